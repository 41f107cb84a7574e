"""Reconcile one tenant's client money for a business date, against a bank statement if given.

Exit status: 0 when every run is balanced or its breaks are resolved; 2 when the runs were
recorded but breaks remain open (so a scheduler or operator notices); 1 with a message and
nothing written for bad input (unknown tenant, bad date or currency, unreadable statement).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.reconciliation import (
    ReconciliationReport,
    reconciliation_report,
    reconciliation_run,
    statement_import,
)
from ledger.rules import quantum
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context

OPEN_BREAKS_EXIT = 2
LABEL = "command:reconcile"


class Command(BaseCommand):
    help = (
        "Internal client-money reconciliation of one tenant at the close of a business date, "
        "and external reconciliation against a custodian-bank statement (CSV or camt.053)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--date", required=True, help="business date, YYYY-MM-DD")
        parser.add_argument("--currency", help="one currency (default: every client-money one)")
        parser.add_argument("--statement", help="bank statement file: CSV or camt.053 XML")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant {options['tenant']!r}.")
        try:
            business_date = date.fromisoformat(options["date"])
        except ValueError:
            raise CommandError(f"--date {options['date']!r} is not a date (YYYY-MM-DD).") from None
        currency = (options.get("currency") or "").upper() or None
        data, filename = None, ""
        if options.get("statement"):
            path = Path(options["statement"])
            try:
                data, filename = path.read_bytes(), path.name
            except OSError as exc:
                raise CommandError(f"Cannot read the statement {path}: {exc.strerror}.") from None
        try:
            # One transaction: a refused statement or run leaves nothing behind.
            with rls_context(tenant=tenant):
                statement = None
                if data is not None:
                    statement = statement_import(
                        tenant=tenant, data=data, filename=filename, actor_label=LABEL
                    )
                reconciliation_run(
                    tenant=tenant,
                    business_date=business_date,
                    currency=currency,
                    statement=statement,
                    actor_label=LABEL,
                )
                report = reconciliation_report(
                    tenant=tenant,
                    business_date=business_date,
                    currency=statement.currency if statement else currency,
                )
        except ApplicationError as refusal:
            details = "; ".join(
                problem for problems in refusal.fields.values() for problem in problems
            )
            raise CommandError(f"{refusal.message} {details}".strip()) from None
        self._report_write(report)
        if report.open_breaks:
            raise CommandError(
                f"{report.open_breaks} open break(s) to resolve.", returncode=OPEN_BREAKS_EXIT
            )

    def _report_write(self, report: ReconciliationReport) -> None:
        if not report.runs:
            self.stdout.write(
                f"{report.tenant} {report.business_date}: no client money to reconcile."
            )
        for run_report in report.runs:
            run = run_report.reconciliation
            figures = run.figures
            step = quantum(run.currency)
            money = {
                key: str(Decimal(value).quantize(step))
                for key, value in figures.items()
                if isinstance(value, str)
            }
            if run.kind == run.Kind.INTERNAL:
                detail = f"requirement {money['requirement']}, resource {money['resource']}"
            else:
                detail = (
                    f"bank {money['bank_closing']}, ledger {money['ledger_closing']}, "
                    f"{figures['matched']} of {figures['statement_lines']} lines matched"
                )
            provisional = " (provisional: the day has not closed)" if figures["provisional"] else ""
            self.stdout.write(
                f"{report.tenant} {run.business_date} {run.kind} {run.currency}: "
                f"{run.get_status_display().lower()} ({detail}){provisional}"
            )
            for brk in run_report.breaks:
                self.stdout.write(
                    f"  break #{brk.pk} {brk.kind} {brk.amount.quantize(step)} {brk.currency} "
                    f"[{brk.status}]: {brk.reason}"
                )
