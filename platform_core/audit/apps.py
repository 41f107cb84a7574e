from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "platform_core.audit"
    label = "audit"

    def ready(self) -> None:
        from datetime import timedelta

        from platform_core.hooks import MenuEntry, ScheduledTask, menu_entries, scheduled_tasks
        from platform_core.tenancy.roles import STAFF_ROLES

        scheduled_tasks.register(
            ScheduledTask(
                key="audit-chains-verify-nightly",
                task="platform_core.audit.tasks.audit_chains_verify_all_task",
                every=timedelta(days=1),
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="notifications-redrive",
                task="platform_core.audit.tasks.notification_deliveries_redrive_task",
                every=timedelta(minutes=5),
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="approvals-expire",
                task="platform_core.audit.tasks.approvals_expire_all_task",
                every=timedelta(minutes=5),
            )
        )
        menu_entries.register(
            MenuEntry(
                key="console.approvals",
                area="console",
                label="Approvals",
                url_name="console-approvals",
                roles=frozenset(STAFF_ROLES),
                order=10,
            )
        )
