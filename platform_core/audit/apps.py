from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "platform_core.audit"
    label = "audit"

    def ready(self) -> None:
        from datetime import timedelta

        from platform_core.audit.checkpoints import AUDIT_LOG
        from platform_core.audit.report_types import ACCESS_LOG, AUDIT_TRAIL
        from platform_core.hooks import (
            MenuEntry,
            ScheduledTask,
            checkpoint_logs,
            menu_entries,
            report_types,
            scheduled_tasks,
        )
        from platform_core.tenancy.roles import STAFF_ROLES

        report_types.register(AUDIT_TRAIL)
        report_types.register(ACCESS_LOG)
        checkpoint_logs.register(AUDIT_LOG)
        scheduled_tasks.register(
            ScheduledTask(
                key="audit-checkpoints-seal",
                task="platform_core.audit.tasks.checkpoints_seal_all_task",
                every=timedelta(hours=1),
            )
        )

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
                key="console.engagements",
                area="console",
                label="Auditor engagements",
                url_name="console-engagements",
                roles=frozenset({"tenant_admin"}),
                order=90,
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
