from django.apps import AppConfig


class KycConfig(AppConfig):
    name = "kyc"

    def ready(self) -> None:
        from datetime import timedelta

        from django.utils.translation import gettext_noop

        from kyc import checks, reports, screening_link, services
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

        # The kyc_aml report type for auditors; the production-safety check of the PII keys.
        for report_type in reports.REPORT_TYPES:
            report_types.register(report_type)
        checks.register()

        try:  # the screening app's subject source (kyc.screening.hooks), once it offers one
            from kyc.screening import hooks as screening_hooks
        except ImportError:
            screening_hooks = None
        source = getattr(screening_hooks, "subject_source", None)
        if source is not None:
            source.register(screening_link.subject_source)
        changed = getattr(screening_hooks, "screening_changed", None)
        if changed is not None:
            changed.connect(services.screening_changed_listener)

        approvable_actions.register(
            ApprovableAction(
                key=services.APPROVE_ACTION,
                description="Approve a high-risk or politically exposed client (senior approver)",
                maker_roles=frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                approver_role=Role.TENANT_ADMIN,
                validate=services.case_approve_validate,
                execute=services.case_approve_execute,
                expires_after=timedelta(days=7),
            )
        )
        from kyc.gates import monitoring_hold_order_gate, monitoring_hold_withdrawal_gate
        from kyc.monitoring.services import entry_committed_listener
        from ledger.hooks import WithdrawalGate, entry_committed, withdrawal_gates
        from risk.hooks import PreTradeGate, pretrade_gates

        # Monitoring reads the client's recent history per entry: in a worker, not in the
        # request that posted the entry.
        entry_committed.connect(entry_committed_listener, background=True)
        # The monitoring hold: no order and no withdrawal while a blocking alert is open.
        pretrade_gates.register(
            PreTradeGate(key="kyc.monitoring_hold", check=monitoring_hold_order_gate)
        )
        withdrawal_gates.register(
            WithdrawalGate(key="kyc.monitoring_hold", check=monitoring_hold_withdrawal_gate)
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="kyc-monitoring-daily",
                task="kyc.tasks.monitoring_batch_all_task",
                every=timedelta(days=1),
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="kyc-reviews-due",
                task="kyc.tasks.reviews_open_due_all_task",
                every=timedelta(days=1),
            )
        )
        menu_entries.register(
            MenuEntry(
                key="kyc.overview",
                area="console",
                label=gettext_noop("KYC and AML"),
                url_name="console-kyc",
                roles=frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                order=29,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="kyc.hits",
                area="console",
                label=gettext_noop("Screening hits"),
                url_name="console-kyc-hits",
                roles=frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                order=30,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="kyc.cases",
                area="console",
                label=gettext_noop("KYC cases"),
                url_name="console-kyc-cases",
                roles=frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                order=30,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="kyc.alerts",
                area="console",
                label=gettext_noop("Monitoring alerts"),
                url_name="console-kyc-alerts",
                roles=frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                order=31,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="kyc.rating",
                area="console",
                label=gettext_noop("Risk rating"),
                url_name="console-kyc-settings",
                roles=frozenset({Role.COMPLIANCE_OFFICER, Role.TENANT_ADMIN}),
                order=32,
            )
        )
        menu_entries.register(
            MenuEntry(
                key="kyc.onboarding",
                area="portal",
                label=gettext_noop("Onboarding"),
                url_name="portal-onboarding",
                roles=frozenset({Role.CLIENT}),
                order=5,
            )
        )
