from django.apps import AppConfig


class FinancingConfig(AppConfig):
    name = "financing"

    def ready(self) -> None:
        from datetime import timedelta

        from django.utils.translation import gettext_lazy as _

        from financing import services
        from platform_core.hooks import (
            ApprovableAction,
            MenuEntry,
            ScheduledTask,
            approvable_actions,
            menu_entries,
            scheduled_tasks,
        )
        from platform_core.tenancy.roles import Role

        approvable_actions.register(
            ApprovableAction(
                key=services.CREDIT_LINE_ACTIVATE,
                description="Activate a credit line above the tenant's four-eyes limit",
                maker_roles=frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER}),
                approver_role=Role.RISK_OFFICER,
                execute=services.credit_line_activate_approved,
                validate=services.credit_line_activate_validate,
            )
        )
        scheduled_tasks.register(
            ScheduledTask(
                key="financing.day_close",
                task="financing.tasks.financing_day_close_all_task",
                every=timedelta(hours=1),
            )
        )
        for entry in (
            MenuEntry(
                "financing.portal.credit",
                "portal",
                _("Credit"),
                "portal-credit",
                frozenset({Role.CLIENT}),
                40,
            ),
            MenuEntry(
                "financing.console.funding",
                "console",
                _("Funding and buffer"),
                "console-funding",
                frozenset({Role.RISK_OFFICER, Role.OPERATIONS, Role.TENANT_ADMIN}),
                60,
            ),
            MenuEntry(
                "financing.console.credit",
                "console",
                _("Credit lines"),
                "console-credit-lines",
                frozenset({Role.RISK_OFFICER, Role.COMPLIANCE_OFFICER}),
                61,
            ),
        ):
            menu_entries.register(entry)
        self._risk_hooks_connect()
        self._kyc_hooks_connect()
        self._report_types_register()

    @staticmethod
    def _risk_hooks_connect() -> None:
        """The risk app's hooks: the pre-trade gate, the loans the engine margins, the
        drawdown that pays for a margin purchase, and the settled liquidation's proceeds."""
        from financing.pretrade import liquidation_settled_apply, margin_order_gate
        from financing.selectors import loans_by_account
        from financing.services import purchase_draw
        from risk.hooks import (
            LoanSource,
            PreTradeGate,
            PurchaseFunding,
            liquidation_settled,
            loan_sources,
            pretrade_gates,
            purchase_funding,
        )

        pretrade_gates.register(PreTradeGate(key="financing.credit", check=margin_order_gate))
        loan_sources.register(LoanSource(key="financing.contracts", loans=loans_by_account))
        purchase_funding.register(PurchaseFunding(key="financing.drawdown", fund=purchase_draw))
        liquidation_settled.connect(liquidation_settled_apply)

    @staticmethod
    def _kyc_hooks_connect() -> None:
        from financing.receivers import risk_rating_changed_review
        from kyc.hooks import risk_rating_changed

        risk_rating_changed.connect(risk_rating_changed_review)

    @staticmethod
    def _report_types_register() -> None:
        from financing.reports import disclosures_report_type

        report_type = disclosures_report_type()
        if report_type is not None:
            from platform_core.hooks import report_types

            report_types.register(report_type)
