"""manage.py signing_certificate_set --tenant SLUG --pkcs12 PATH --password-file PATH"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from platform_core.audit.signing import SigningError, signing_certificate_set
from platform_core.tenancy.models import Tenant


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"Cannot read the {what} {path}: {exc.strerror}.") from None


class Command(BaseCommand):
    help = (
        "Install a tenant's own signing certificate (PKCS#12) for its PDFs. The key is stored "
        "re-encrypted under a key derived from SECRET_KEY; the password is not kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--pkcs12", required=True, help="the .p12 / .pfx file")
        parser.add_argument(
            "--password-file",
            required=True,
            help="file holding the PKCS#12 password (one line; a password on the command "
            "line would show in the process list and the shell history)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["tenant"]
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"Unknown tenant {slug!r}.")
        pkcs12_data = _read(options["pkcs12"], "PKCS#12 file")
        password = _read(options["password_file"], "password file").rstrip(b"\r\n")
        try:
            identity = signing_certificate_set(
                tenant=tenant,
                pkcs12_data=pkcs12_data,
                password=password,
                actor_label=f"cli:{getpass.getuser()}",
            )
        except SigningError as exc:
            raise CommandError(str(exc)) from None
        certificate = identity.certificate
        self.stdout.write(
            f"{slug} now signs with {certificate.subject.rfc4514_string()} "
            f"(issuer {certificate.issuer.rfc4514_string()}, valid until "
            f"{certificate.not_valid_after_utc:%Y-%m-%d}, SHA-256 {identity.fingerprint})."
        )
