from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "risk"

    def ready(self) -> None:
        from datetime import timedelta

        from platform_core.hooks import (
            ApprovableAction,
            ScheduledTask,
            approvable_actions,
            scheduled_tasks,
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
        scheduled_tasks.register(
            ScheduledTask(
                key="risk-margin-sweep",
                task="risk.tasks.margin_sweep_all_task",
                every=timedelta(minutes=1),
            )
        )
