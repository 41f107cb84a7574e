"""Recompute every balance from the postings, check each entry balances and the seal chain."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.services import journal_seal
from ledger.verification import ledger_problems
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


class Command(BaseCommand):
    help = "Verify the ledger of one tenant (or all): balances, balanced entries, seal chain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant slug; every tenant when omitted")
        parser.add_argument(
            "--no-seal", action="store_true", help="do not seal new entries before checking"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = Tenant.objects.order_by("slug")
        if options.get("tenant"):
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"Unknown tenant {options['tenant']!r}.")
        for tenant in tenants:
            with rls_context(tenant=tenant):
                sealed = 0
                while not options["no_seal"] and (batch := journal_seal(tenant=tenant)):
                    sealed += batch
                problems = ledger_problems(tenant=tenant)
            if problems:
                raise CommandError(
                    f"{tenant.slug}: {problems[0]}"
                    + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                )
            self.stdout.write(f"{tenant.slug}: ledger intact ({sealed} entries newly sealed)")
