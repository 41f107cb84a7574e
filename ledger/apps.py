from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"

    def ready(self) -> None:
        from datetime import timedelta

        from platform_core.hooks import MenuEntry, ScheduledTask, menu_entries, scheduled_tasks
        from platform_core.tenancy.roles import Role

        scheduled_tasks.register(
            ScheduledTask(
                key="ledger-por-snapshot-daily",
                task="ledger.tasks.por_snapshots_take_all_task",
                every=timedelta(days=1),
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="ledger-reconciliation-daily",
                task="ledger.tasks.reconciliations_daily_task",
                every=timedelta(hours=1),
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="ledger-journal-seal",
                task="ledger.tasks.journal_seal_all_task",
                every=timedelta(minutes=1),
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="ledger-holds-expire",
                task="ledger.tasks.holds_expire_all_task",
                every=timedelta(minutes=1),
            )
        )
        menu_entries.register(
            MenuEntry(
                key="ledger.reconciliation",
                area="console",
                label="Reconciliation",
                url_name="console-reconciliation",
                roles=frozenset({Role.OPERATIONS, Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                order=20,
            )
        )
