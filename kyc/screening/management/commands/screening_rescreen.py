"""Screen clients again: every client of a tenant, or a list version's delta."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kyc.screening.hooks import subject_source
from kyc.screening.models import ListVersion
from kyc.screening.progress import ProgressLine
from kyc.screening.services import list_version_delta_screen, subjects_rescreen
from platform_core.tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Re-screen every client of a tenant (or of all tenants), storing a new run for each; "
        "with --version, screen only that list version's changes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="tenant slug; every tenant when omitted")
        parser.add_argument("--version", type=int, help="a list version id: its delta only")

    def handle(self, *args: Any, **options: Any) -> None:
        if not subject_source.registered:
            raise CommandError("No subject source is registered (the kyc app provides it).")
        tenants = Tenant.objects.order_by("pk")
        if options.get("tenant"):
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"Unknown tenant {options['tenant']!r}.")
        if options.get("version") is not None:
            if not ListVersion.objects.filter(pk=options["version"]).exists():
                raise CommandError(f"Unknown list version {options['version']}.")
            outcome = list_version_delta_screen(
                version_id=options["version"],
                tenants=list(tenants),
                progress=ProgressLine(sys.stderr, "delta screening"),
            )
            self.stdout.write(f"{outcome.subjects_rescreened} clients re-screened.")
            return
        for tenant in tenants:
            progress = ProgressLine(sys.stderr, f"re-screening {tenant.slug}")
            count = subjects_rescreen(tenant=tenant, reason="rescreen", progress=progress)
            progress.finish()
            self.stdout.write(f"{tenant.slug}: {count} clients re-screened.")
