"""Replay the margin-call loop over a price path on a tenant's book; nothing persists.

    manage.py replay --scenario NAME|FILE --tenant SLUG [--switch as-is|on|off] [--json]

Built-in scenarios: black-monday-1987, gap-20, shock-10; or a CSV file with the columns
``step,move`` (a factor applied to every underlying) or ``step,symbol,price``. Reports the
calls issued, deleveragings and liquidations, shortfalls, buffer use and the time to restore,
step by step. Exit 2 with a message for an unknown scenario, tenant or a malformed file.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.tenancy.models import Tenant
from risk.operations.replay import SCENARIOS, ScenarioError, replay_run


class Command(BaseCommand):
    help = "Replay the margin-call loop over a price path (rolled back: nothing persists)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scenario", required=True, help=f"{', '.join(SCENARIOS)}, or a CSV file"
        )
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument(
            "--switch",
            choices=("as-is", "on", "off"),
            default="as-is",
            help="the crash switch during the replay (default: as it stands)",
        )
        parser.add_argument("--json", action="store_true", help="the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"tenant: no tenant {options['tenant']!r}", returncode=2)
        try:
            report = replay_run(
                tenant=tenant, scenario=options["scenario"], switch=options["switch"]
            )
        except ScenarioError as exc:
            raise CommandError(str(exc), returncode=2) from None
        summary = {
            "tenant": report.tenant,
            "scenario": report.scenario,
            "description": report.description,
            "accounts": report.accounts,
            "calls_issued": report.calls_issued,
            "deleveraged": sum(s.deleveraged for s in report.steps),
            "liquidated": sum(s.liquidated for s in report.steps),
            "queued_for_approval": sum(s.queued for s in report.steps),
            "shortfall": str(report.shortfall),
            "default_fund": str(report.default_fund),
            "buffer_use": str(report.buffer_use),
            "uncovered": str(report.uncovered),
            "steps_to_restore": report.restored_after,
            "steps": [
                {
                    "step": s.step,
                    "at": s.at.isoformat(),
                    "statuses": dict(sorted(s.statuses.items())),
                    "calls_issued": s.calls_issued,
                    "deleveraged": s.deleveraged,
                    "liquidated": s.liquidated,
                    "queued": s.queued,
                    "shortfall": str(s.shortfall),
                    "failures": s.failures,
                }
                for s in report.steps
            ],
            "persisted": False,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
            return
        self.stdout.write(f"{report.description} — {report.accounts} accounts of {report.tenant}")
        for s in summary["steps"]:
            self.stdout.write(
                f"step {s['step']}: {s['statuses']}; calls {s['calls_issued']}, deleveraged "
                f"{s['deleveraged']}, liquidated {s['liquidated']}, queued {s['queued']}, "
                f"shortfall {s['shortfall']}"
                + (f"; failed: {'; '.join(s['failures'])}" if s["failures"] else "")
            )
        restore = summary["steps_to_restore"]
        self.stdout.write(
            f"calls issued {summary['calls_issued']}, deleveraged {summary['deleveraged']}, "
            f"liquidated {summary['liquidated']}, shortfall {summary['shortfall']}, buffer use "
            f"{summary['buffer_use']} (default fund {summary['default_fund']}, uncovered "
            f"{summary['uncovered']}), restored after "
            + ("never within the path" if restore is None else f"{restore} step(s)")
        )
        self.stdout.write("Rolled back: nothing persisted.")
