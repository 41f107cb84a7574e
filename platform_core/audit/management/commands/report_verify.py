"""manage.py report_verify FILE.pdf [--trust ca.pem ...] [--tenant SLUG]"""

from __future__ import annotations

import hashlib
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from platform_core.audit.signing import SigningError, signing_identity_for
from platform_core.tenancy.models import Tenant


def trust_roots_load(paths: list[str]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    for name in paths:
        try:
            data = Path(name).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read the trust root {name}: {exc.strerror}.") from None
        try:
            roots.extend(
                x509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [x509.load_der_x509_certificate(data)]
            )
        except ValueError:
            raise CommandError(f"{name} is not a PEM or DER certificate.") from None
    return roots


class Command(BaseCommand):
    help = (
        "Validate a report's PAdES signature against trust roots (--trust files, the CA of "
        "--tenant, and SIGNING_TRUST_ROOTS) and check the SHA-256 manifest beside it, if any. "
        "Exits 1 unless intact, trusted and covering the whole file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pdf", help="the signed PDF")
        parser.add_argument("--trust", action="append", default=[], help="a CA certificate file")
        parser.add_argument("--tenant", help="trust this tenant's signing CA")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["pdf"])
        try:
            pdf = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        roots = trust_roots_load([*options["trust"], *getattr(settings, "SIGNING_TRUST_ROOTS", [])])
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"Unknown tenant {options['tenant']!r}.")
            try:
                roots.extend(signing_identity_for(tenant=tenant).ca_certificates())
            except SigningError as exc:
                raise CommandError(str(exc)) from None
        if not roots:
            raise CommandError("No trust roots: pass --trust ca.pem or --tenant SLUG.")
        try:
            signatures = PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures
        except (PdfError, ValueError, KeyError, IndexError) as exc:
            raise CommandError(f"{path} is not a readable PDF: {exc}") from None
        if not signatures:
            raise CommandError(f"{path} carries no signature.")
        context = ValidationContext(
            trust_roots=[
                asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
                for root in roots
            ]
        )
        good = True
        for signature in signatures:
            try:
                status = validate_pdf_signature(signature, context)
            except (PdfError, ValueError) as exc:
                raise CommandError(f"The signature of {path} cannot be checked: {exc}") from None
            whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
            self.stdout.write(f"file:      {path}")
            self.stdout.write(f"sha256:    {hashlib.sha256(pdf).hexdigest()}")
            self.stdout.write(f"intact:    {'yes' if status.intact and status.valid else 'NO'}")
            self.stdout.write(f"trusted:   {'yes' if status.trusted else 'NO'}")
            self.stdout.write(f"coverage:  {'entire file' if whole else 'NOT the whole file'}")
            self.stdout.write(f"signer:    {status.signing_cert.subject.human_friendly}")
            signed_at = status.signer_reported_dt
            self.stdout.write(f"signed at: {signed_at.isoformat() if signed_at else 'unknown'}")
            good = good and bool(status.bottom_line) and whole
        good = self._manifest_check(path) and good
        if not good:
            raise CommandError(f"{path} does NOT verify.")
        self.stdout.write(self.style.SUCCESS(f"{path} verifies: intact and trusted."))

    def _manifest_check(self, path: Path) -> bool:
        manifest = path.with_suffix(".sha256")
        if not manifest.exists():
            self.stdout.write(f"manifest:  none beside the file ({manifest.name})")
            return True
        good = True
        for line in manifest.read_text("utf-8").splitlines():
            digest, _, name = line.partition("  ")
            target = path.parent / name
            if not target.exists():
                self.stdout.write(f"manifest:  {name} MISSING")
                good = False
                continue
            actual = hashlib.sha256(target.read_bytes()).hexdigest()
            verdict = "ok" if actual == digest else "MISMATCH"
            good = good and actual == digest
            self.stdout.write(f"manifest:  {name} {verdict}")
        return good
