from django.apps import AppConfig


class RiskOperationsConfig(AppConfig):
    """The operations loop of risk: margin calls, hedge hints, deleveraging and liquidation,
    the crash switch and disputes.

    An app of its own inside ``risk`` (label ``risk_operations``) so that the loop's tables
    migrate apart from reference data, prices and positions; see docs/decisions.md.
    """

    name = "risk.operations"
    label = "risk_operations"

    def ready(self) -> None:
        from datetime import timedelta

        from ledger.hooks import entry_committed
        from platform_core.audit.notifications import NotificationKind, notification_kinds
        from platform_core.hooks import (
            ApprovableAction,
            MenuEntry,
            ScheduledTask,
            approvable_actions,
            menu_entries,
            report_types,
            scheduled_tasks,
        )
        from platform_core.tenancy.roles import Role
        from risk import hooks as risk_hooks
        from risk.operations import services
        from risk.operations.reports import MARGIN_CALLS

        report_types.register(MARGIN_CALLS)
        risk_hooks.crash_signal.connect(services.crash_signal_received)
        changed = getattr(risk_hooks, "margin_status_changed", None)
        if changed is not None:
            changed.connect(services.margin_status_changed_received)
        entry_committed.connect(services.deposit_received)

        call = frozenset({"account_id", "call_id", "deadline", "deposit_needed", "currency"})
        for key, description, context in (
            (
                "margin.warning",
                "The account's margin ratio fell to the warning line.",
                frozenset({"account_id", "ratio", "currency"}),
            ),
            ("margin.call", "A margin call with its deadline and the deposit needed.", call),
            ("margin.deadline_near", "A margin call's deadline is near.", call),
            (
                "margin.deleverage",
                "The ratio fell to the deleverage line: positions will be reduced.",
                call,
            ),
            (
                "margin.liquidation",
                "The ratio fell to the liquidation line: positions are being closed.",
                call,
            ),
            (
                "margin.executed",
                "Positions were closed to restore the margin ratio.",
                frozenset({"account_id", "proposal_id", "kind", "net_cash", "currency"}),
            ),
            (
                "margin.call_met",
                "The margin call was met.",
                frozenset({"account_id", "call_id", "reason", "ratio"}),
            ),
        ):
            notification_kinds.register(NotificationKind(key, description, context))

        approvable_actions.register(
            ApprovableAction(
                key=services.WRITEOFF_ACTION,
                description="Write off a client's debt against the default fund and buffer",
                maker_roles=frozenset({Role.RISK_OFFICER}),
                approver_role=Role.TENANT_ADMIN,
                validate=services.debt_writeoff_validate,
                execute=services.debt_writeoff_execute,
            )
        )
        approvable_actions.register(
            ApprovableAction(
                key=services.EXECUTE_ACTION,
                description="Execute a deleveraging or liquidation proposal by hand",
                maker_roles=frozenset({Role.RISK_OFFICER}),
                approver_role=Role.RISK_OFFICER,
                validate=services.proposal_execution_validate,
                execute=services.proposal_execution_execute,
                expires_after=services.EXECUTE_APPROVAL_EXPIRES,
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="risk-operations-call-deadlines",
                task="risk.operations.tasks.calls_deadline_check_all_task",
                every=timedelta(minutes=15),
            )
        )
        menu_entries.register(
            MenuEntry(
                key="risk_operations.calls",
                area="console",
                label="Margin calls",
                url_name="console-margin-calls",
                roles=frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER}),
                order=30,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="risk_operations.portal_calls",
                area="portal",
                label="Margin calls",
                url_name="portal-margin-calls",
                roles=frozenset({Role.CLIENT}),
                order=30,
            )
        )
