"""Recompute the audit hash chains; exit non-zero naming the first broken event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.audit.selectors import audit_chain_verify
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context


class Command(BaseCommand):
    help = "Verify the hash-chained audit trail of one tenant, or of every tenant and the platform."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant slug; all chains when omitted")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options.get("tenant")
        if slug:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                raise CommandError(f"Unknown tenant {slug!r}.")
            chains: list[tuple[str, int | None]] = [(slug, tenant.pk)]
        else:
            chains = [("platform", None)] + [(t.slug, t.pk) for t in Tenant.objects.order_by("pk")]
        for name, tenant_id in chains:
            with rls_context(tenant=tenant_id):
                checked, broken = audit_chain_verify(tenant_id=tenant_id)
            if broken is not None:
                raise CommandError(f"Audit chain broken at {broken}.")
            self.stdout.write(f"{name}: {checked} events, chain intact")
