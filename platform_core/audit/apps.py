from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "platform_core.audit"
    label = "audit"

    def ready(self) -> None:
        from datetime import timedelta

        from platform_core.hooks import ScheduledTask, scheduled_tasks

        scheduled_tasks.register(
            ScheduledTask(
                key="audit-chains-verify-nightly",
                task="platform_core.audit.tasks.audit_chains_verify_all_task",
                every=timedelta(days=1),
            )
        )
