from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "risk"

    def ready(self) -> None:
        from datetime import timedelta

        from django.utils.translation import gettext_noop

        from platform_core.hooks import (
            ApprovableAction,
            MenuEntry,
            ScheduledTask,
            approvable_actions,
            menu_entries,
            scheduled_tasks,
        )
        from platform_core.tenancy.roles import STAFF_ROLES, Role
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
        menu_entries.register(
            MenuEntry(
                key="risk.margin",
                area="portal",
                label=gettext_noop("Margin"),
                url_name="portal-margin-index",
                roles=frozenset({Role.CLIENT}),
                order=30,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="risk.monitor",
                area="console",
                label=gettext_noop("Margin monitor"),
                url_name="console-margin-monitor",
                roles=frozenset(STAFF_ROLES),
                order=30,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="risk.book_stress",
                area="console",
                label=gettext_noop("Book stress test"),
                url_name="console-book-stress",
                roles=frozenset({Role.RISK_OFFICER}),
                order=31,
            )
        )
