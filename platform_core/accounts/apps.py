from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "platform_core.accounts"
    label = "accounts"

    def ready(self) -> None:
        from platform_core.accounts.services import (
            second_factor_reset_execute,
            second_factor_reset_validate,
        )
        from platform_core.audit.notifications import NotificationKind, notification_kinds
        from platform_core.hooks import ApprovableAction, approvable_actions
        from platform_core.tenancy.roles import Role

        approvable_actions.register(
            ApprovableAction(
                key="accounts.second_factor_reset",
                description="Remove every second factor of a person who lost them all",
                maker_roles=frozenset({Role.TENANT_ADMIN}),
                approver_role=Role.TENANT_ADMIN,
                validate=second_factor_reset_validate,
                execute=second_factor_reset_execute,
            )
        )
        notification_kinds.register(
            NotificationKind(
                "auth.second_factor_reset",
                "Every second factor of the recipient was removed by two administrators.",
                frozenset({"devices_removed"}),
            )
        )
