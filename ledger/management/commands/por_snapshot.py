"""manage.py por_snapshot --tenant SLUG [--currency USD] [--json]"""

from __future__ import annotations

import getpass
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.proof_of_reserves import por_roots, por_snapshot_take
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import CURRENCY_MINOR_UNITS, Tenant
from platform_core.tenancy.rls import rls_context


class Command(BaseCommand):
    help = (
        "Take a proof-of-reserves snapshot now: one Merkle sum tree of client_cash balances per "
        "currency that has them (or only --currency). Prints the snapshot id; --json prints "
        "each tree's published root instead, one JSON object per line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--currency", help="only this currency (ISO 4217, e.g. USD)")
        parser.add_argument("--json", action="store_true", help="print the published root(s)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant {options['tenant']!r}.")
        currency = (options.get("currency") or "").upper() or None
        if currency and currency not in CURRENCY_MINOR_UNITS:
            raise CommandError(f"{currency!r} is not a supported currency.")
        try:
            with rls_context(tenant=tenant):
                snapshot = por_snapshot_take(
                    tenant=tenant, currency=currency, actor_label=f"cli:{getpass.getuser()}"
                )
                roots = por_roots(tenant=tenant, snapshot=snapshot)
        except ApplicationError as refusal:
            raise CommandError(refusal.message) from None
        if options["json"]:
            for root in roots:
                self.stdout.write(json.dumps(root))
        else:
            self.stdout.write(snapshot)
        # A shortfall is published as it is, and said out loud to the operator too.
        for root in roots:
            if root["reserves"] < root["total_liabilities"]:
                self.stderr.write(root["statement"])
