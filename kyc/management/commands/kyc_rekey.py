"""Re-wrap every client data key under the active master key (after adding a new one).

    KYC_MASTER_KEYS="k1:<old>,k2:<new>" KYC_MASTER_KEY_ID=k2 python manage.py kyc_rekey

Sealed personal data is not touched; once this has run, the old master key can be removed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kyc.crypto import KeyUnavailable, master_keys
from kyc.pii import data_keys_rewrap
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


class Command(BaseCommand):
    help = "Re-wrap the clients' data keys under the active KYC master key."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="one tenant's slug (default: every tenant)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            active = master_keys().active
        except KeyUnavailable as problem:
            raise CommandError(str(problem)) from None
        tenants = Tenant.objects.order_by("pk")
        if options.get("tenant"):
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant {options['tenant']!r}.")
        total = 0
        for tenant in tenants:
            with rls_context(tenant=tenant):
                try:
                    done = data_keys_rewrap(tenant=tenant)
                except KeyUnavailable as problem:
                    raise CommandError(f"{tenant.slug}: {problem}") from None
            total += done
            self.stdout.write(f"{tenant.slug}: {done} data keys re-wrapped under {active}")
        self.stdout.write(f"{total} data keys re-wrapped.")
