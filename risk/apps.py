from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "risk"

    def ready(self) -> None:

        from platform_core.hooks import (
            ApprovableAction,
            approvable_actions,
        )
        from platform_core.tenancy.roles import Role
        from risk import policies

        approvable_actions.register(
            ApprovableAction(
                key=policies.ACTIVATE_ACTION,
                description="Activate a margin policy version",
                maker_roles=frozenset({Role.RISK_OFFICER}),
                approver_role=Role.RISK_OFFICER,
                validate=policies.policy_activate_validate,
                execute=policies.policy_activate_execute,
            )
        )
