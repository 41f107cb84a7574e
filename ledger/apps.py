from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"

    def ready(self) -> None:
        from datetime import timedelta

        from ledger import operations, reports, withdrawals
        from platform_core.audit.notifications import notification_kinds
        from platform_core.hooks import (
            ApprovableAction,
            MenuEntry,
            ScheduledTask,
            approvable_actions,
            checkpoint_logs,
            menu_entries,
            report_types,
            scheduled_tasks,
        )
        from platform_core.tenancy.roles import Role

        # The ledger's report types for auditors and its journal's checkpoint log.
        for report_type in reports.REPORT_TYPES:
            report_types.register(report_type)
        checkpoint_logs.register(reports.JOURNAL_LOG)

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
        # --- withdrawals, fees, the sweep and manual adjustments ---------------------------
        approvable_actions.register(
            ApprovableAction(
                key=withdrawals.RELEASE_ACTION,
                description="Pay out a withdrawal above the tenant's four-eyes threshold",
                maker_roles=frozenset({Role.OPERATIONS}),
                approver_role=Role.OPERATIONS,
                validate=withdrawals.withdrawal_release_validate,
                execute=withdrawals.withdrawal_release_execute,
            )
        )
        approvable_actions.register(
            ApprovableAction(
                key=operations.ADJUSTMENT_ACTION,
                description="Post a manual adjustment entry",
                maker_roles=frozenset({Role.OPERATIONS, Role.TENANT_ADMIN}),
                approver_role=Role.TENANT_ADMIN,
                validate=operations.adjustment_validate,
                execute=operations.adjustment_execute,
            )
        )
        for kind in withdrawals.NOTIFICATION_KINDS:
            notification_kinds.register(kind)
        menu_entries.register(
            MenuEntry(
                key="ledger.withdrawals",
                area="console",
                label="Withdrawals",
                url_name="console-withdrawals",
                roles=frozenset({Role.OPERATIONS, Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                order=15,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="ledger.fees",
                area="console",
                label="Fees and sweep",
                url_name="console-fees",
                roles=frozenset({Role.OPERATIONS}),
                order=25,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="ledger.adjustments",
                area="console",
                label="Adjustments",
                url_name="console-adjustment",
                roles=frozenset({Role.OPERATIONS, Role.TENANT_ADMIN}),
                order=26,
            )
        )
