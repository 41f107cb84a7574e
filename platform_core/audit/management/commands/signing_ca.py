"""manage.py signing_ca --tenant SLUG --out ca.pem"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.audit.signing import SigningError, certificates_pem, signing_identity_for
from platform_core.tenancy.models import Tenant


class Command(BaseCommand):
    help = (
        "Write the CA certificate that a tenant's signed PDFs verify against (PEM), creating "
        "the development CA on first use."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--out", required=True, help="file to write, or - for standard output")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["tenant"]
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant {slug!r}.")
        try:
            identity = signing_identity_for(tenant=tenant)
        except SigningError as exc:
            raise CommandError(str(exc)) from None
        authorities = identity.ca_certificates()
        if not authorities:
            raise CommandError(
                f"The {identity.source} certificate of {slug} came without its CA certificate; "
                "get it from the certificate's issuer."
            )
        pem = certificates_pem(authorities)
        if options["out"] == "-":
            self.stdout.write(pem.decode("ascii"), ending="")
            return
        out = Path(options["out"])
        try:
            out.write_bytes(pem)
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}.") from None
        names = "; ".join(cert.subject.rfc4514_string() for cert in authorities)
        self.stdout.write(f"Wrote the {identity.source} CA of {slug} ({names}) to {out}.")
