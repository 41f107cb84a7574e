"""PDF signing and rendering: what a verifier outside the platform sees.

Acme's and Globex's documents are rendered with WeasyPrint, sealed, then checked the way an
auditor would: with pyHanko trusting the tenant's CA, and with poppler's ``pdfsig`` trusting
it through an NSS database. Every test keeps its keys in its own ``VAR_DIR``.
"""

from __future__ import annotations

import copy
import http.server
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from platform_core.audit import signing
from platform_core.audit.models import AuditEvent
from platform_core.audit.rendering import PdfRenderError, pdf_render
from platform_core.audit.signing import (
    InvalidPdfError,
    SigningError,
    SigningIdentityError,
    pdf_sign,
    signing_identity_for,
)
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.services import tenant_create
from tests.conftest import as_tenant

pytestmark = pytest.mark.django_db

STATEMENT = """{% extends "pdf/base.html" %}{% block content %}
<h1>保证金通知 Margin statement</h1>
<p>{{ client }} 您的保证金比例为 {{ ratio }}。</p>
<img src="/static/favicon.svg" width="16" height="16">
{% endblock %}"""


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    """Keys go to the test's own directory; no operator certificate, no timestamp authority."""
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_PKCS12_PASSWORD = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


@pytest.fixture
def acme(db: Any) -> Tenant:
    """Just the tenant: conftest's ``acme`` also makes six people, whom signing never needs."""
    return tenant_create(slug="acme", name="Acme Capital", timezone="Asia/Shanghai", currency="CNY")


@pytest.fixture
def globex(db: Any) -> Tenant:
    return tenant_create(slug="globex", name="Globex", timezone="Asia/Shanghai", currency="CNY")


def templates_with(sources: dict[str, str]) -> list[dict[str, Any]]:
    """The project's template settings, with ``sources`` (name: source) found first."""
    templates = copy.deepcopy(django_settings.TEMPLATES)
    templates[0]["APP_DIRS"] = False
    templates[0]["OPTIONS"]["loaders"] = [
        ("django.template.loaders.locmem.Loader", sources),
        "django.template.loaders.filesystem.Loader",
        "django.template.loaders.app_directories.Loader",
    ]
    return templates


@pytest.fixture(scope="module")
def statement_pdf() -> bytes:
    """A statement in Chinese and English, rendered once for the module (about 0.2 s)."""
    with override_settings(TEMPLATES=templates_with({"pdf/test_statement.html": STATEMENT})):
        return pdf_render(
            template_name="pdf/test_statement.html",
            context={"client": "张三", "ratio": "135%"},
        )


# --- certificates a test makes for itself ---------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(**granted: bool) -> x509.KeyUsage:
    usages = {
        name: False
        for name in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        )
    }
    return x509.KeyUsage(**{**usages, **granted})


def make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    *,
    ca: tuple[x509.Certificate, Any],
    common_name: str,
    key: Any = None,
    key_usage: x509.KeyUsage | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    not_after: datetime | None = None,
) -> tuple[x509.Certificate, Any]:
    ca_cert, ca_key = ca
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(
            key_usage or _key_usage(digital_signature=True, content_commitment=True),
            critical=True,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    return builder.sign(ca_key, hashes.SHA256()), key


def make_pkcs12(
    tmp_path: Path, *, password: bytes = b"p12-Password-1", **leaf: Any
) -> tuple[Path, Path, x509.Certificate]:
    """A PKCS#12 with a leaf and its CA, and a password file; returns (p12, password, CA)."""
    ca = make_ca("Operator Test Root CA")
    cert, key = make_leaf(ca=ca, common_name="Operator Document Seal", **leaf)
    p12 = tmp_path / "seal.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"seal", key, cert, [ca[0]], serialization.BestAvailableEncryption(password)
        )
    )
    password_file = tmp_path / "seal.password"
    password_file.write_bytes(password + b"\n")
    return p12, password_file, ca[0]


# --- verifying like an outsider ------------------------------------------------------------


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def pyhanko_status(pdf: bytes, *, trusting: list[x509.Certificate]) -> PdfSignatureStatus:
    (embedded,) = PdfFileReader(BytesIO(pdf)).embedded_signatures
    context = ValidationContext(trust_roots=[_asn1(cert) for cert in trusting])
    return validate_pdf_signature(embedded, context)


def dev_ca(tenant: Tenant) -> x509.Certificate:
    (ca,) = signing_identity_for(tenant=tenant).ca_certificates()
    return ca


def nss_db_trusting(directory: Path, ca: x509.Certificate) -> str:
    """An NSS database in ``directory`` with ``ca`` as a trusted signing root, for pdfsig."""
    directory.mkdir()
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    trusted_signing_root = ["-n", "tenant-ca", "-t", "CT,C,C", "-i", str(ca_file)]
    subprocess.run(["certutil", "-A", "-d", f"sql:{directory}", *trusted_signing_root], check=True)
    return f"sql:{directory}"


def pdfsig(pdf: bytes, tmp_path: Path, *, nssdir: str | None = None) -> str:
    path = tmp_path / "checked.pdf"
    path.write_bytes(pdf)
    trust = ["-nssdir", nssdir] if nssdir else []
    result = subprocess.run(
        ["pdfsig", *trust, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout + result.stderr


def flip_one_signed_byte(pdf: bytes) -> bytes:
    """Flip a bit inside the first page's content stream, well inside the signed range."""
    (embedded,) = PdfFileReader(BytesIO(pdf)).embedded_signatures
    start, first_length, *_ = embedded.sig_object["/ByteRange"]
    offset = pdf.index(b"stream\n") + 40
    assert start <= offset < start + first_length
    tampered = bytearray(pdf)
    tampered[offset] ^= 0x01
    return bytes(tampered)


needs_pdfsig = pytest.mark.skipif(
    shutil.which("pdfsig") is None,
    reason="pdfsig comes from Debian's poppler-utils (.ci/run installs it)",
)
needs_certutil = pytest.mark.skipif(
    shutil.which("certutil") is None,
    reason="pdfsig trusts a CA through an NSS database made with certutil, from Debian's "
    "libnss3-tools (.ci/run installs it)",
)


# --- signing -------------------------------------------------------------------------------


def test_it_signs_with_the_tenants_development_ca_and_pyhanko_trusts_it(
    acme: Tenant, statement_pdf: bytes, signing_var: Path
) -> None:
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")

    status = pyhanko_status(signed, trusting=[dev_ca(acme)])
    assert (status.intact, status.valid, status.trusted, status.bottom_line) == (
        True,
        True,
        True,
        True,
    )
    assert status.coverage.name == "ENTIRE_FILE"
    assert {"non_repudiation", "digital_signature"} <= status.signing_cert.key_usage_value.native
    (embedded,) = PdfFileReader(BytesIO(signed)).embedded_signatures
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert embedded.sig_object["/Reason"] == "Margin statement"
    assert status.timestamp_validity is None  # B-B: no timestamp authority configured

    ca_dir = signing_var / "signing" / "acme" / "dev-ca"
    assert sorted(p.name for p in ca_dir.iterdir()) == [
        "ca.key",
        "ca.pem",
        "signer.key",
        "signer.pem",
    ]
    assert (ca_dir / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (ca_dir / "signer.key").stat().st_mode & 0o777 == 0o600


@needs_pdfsig
def test_pdfsig_says_the_signature_is_valid(
    acme: Tenant, statement_pdf: bytes, tmp_path: Path
) -> None:
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")

    report = pdfsig(signed, tmp_path)

    assert "Signature Type: ETSI.CAdES.detached" in report
    assert "Total document signed" in report
    assert "Signature Validation: Signature is Valid." in report
    # Intact, but nobody told pdfsig to trust Acme's CA.
    assert "Certificate Validation: Certificate issuer isn't Trusted." in report


@needs_pdfsig
@needs_certutil
def test_pdfsig_trusts_it_given_the_tenants_ca(
    acme: Tenant, statement_pdf: bytes, tmp_path: Path
) -> None:
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")
    nssdir = nss_db_trusting(tmp_path / "nss", dev_ca(acme))

    report = pdfsig(signed, tmp_path, nssdir=nssdir)

    assert "Signature Validation: Signature is Valid." in report
    assert "Certificate Validation: Certificate is Trusted." in report


def test_one_flipped_byte_fails_pyhanko(acme: Tenant, statement_pdf: bytes) -> None:
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")

    status = pyhanko_status(flip_one_signed_byte(signed), trusting=[dev_ca(acme)])

    assert not status.intact
    assert not status.bottom_line


@needs_pdfsig
def test_one_flipped_byte_fails_pdfsig(acme: Tenant, statement_pdf: bytes, tmp_path: Path) -> None:
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")

    report = pdfsig(flip_one_signed_byte(signed), tmp_path)

    assert "Signature Validation: Digest Mismatch." in report
    assert "Signature is Valid" not in report


def test_acmes_pdf_is_not_trusted_against_globexs_ca(
    acme: Tenant, globex: Tenant, statement_pdf: bytes
) -> None:
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")

    status = pyhanko_status(signed, trusting=[dev_ca(globex)])

    assert status.intact  # the bytes are fine ...
    assert not status.trusted  # ... but Globex's CA vouches for nothing of Acme's
    assert not status.bottom_line
    assert dev_ca(acme).fingerprint(hashes.SHA256()) != dev_ca(globex).fingerprint(hashes.SHA256())


@pytest.mark.parametrize(
    ("not_a_pdf", "message"),
    [
        (b"", "not a PDF"),
        (b"PK\x03\x04 a zip file, not a PDF", "not a PDF"),
        (b"%PDF-1.7\nno objects, no trailer\n%%EOF\n", "damaged"),
    ],
)
def test_bytes_that_are_not_a_pdf_are_refused_before_any_key_exists(
    acme: Tenant, signing_var: Path, not_a_pdf: bytes, message: str
) -> None:
    with pytest.raises(InvalidPdfError, match=message):
        pdf_sign(tenant=acme, pdf=not_a_pdf, reason="Margin statement")

    assert not (signing_var / "signing").exists()


def test_an_encrypted_pdf_is_refused(acme: Tenant, statement_pdf: bytes, signing_var: Path) -> None:
    writer = copy_into_new_writer(PdfFileReader(BytesIO(statement_pdf)))
    writer.encrypt("owner-secret", "user-secret")
    encrypted = BytesIO()
    writer.write(encrypted)

    with pytest.raises(InvalidPdfError, match="encrypted"):
        pdf_sign(tenant=acme, pdf=encrypted.getvalue(), reason="Margin statement")
    assert not (signing_var / "signing").exists()


def test_two_threads_at_once_create_one_development_ca(
    acme: Tenant, signing_var: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = signing._development_ca_create
    calls = []

    def slow_create(**kwargs: Any) -> None:
        calls.append(threading.current_thread().name)
        # Both threads have seen "no CA yet" by now; the lock decides who makes it.
        time.sleep(0.3)
        create(**kwargs)

    monkeypatch.setattr(signing, "_development_ca_create", slow_create)
    start = threading.Barrier(2)
    identities: list[signing.SigningIdentity] = []
    errors: list[BaseException] = []

    def ask() -> None:
        start.wait()
        try:
            identities.append(signing_identity_for(tenant=acme))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, name=f"signer-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(calls) == 1
    assert identities[0].fingerprint == identities[1].fingerprint
    assert identities[0].chain == identities[1].chain
    tenant_dir = signing_var / "signing" / "acme"
    assert sorted(p.name for p in tenant_dir.iterdir()) == [".lock", "dev-ca"]


# --- PAdES B-T with a timestamp authority -------------------------------------------------


@pytest.fixture
def tsa(settings: Any) -> Iterator[x509.Certificate]:
    """A timestamp authority on the loopback interface; yields its root certificate."""
    root = make_ca("Test TSA Root")
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa_cert, _ = make_leaf(
        ca=root,
        common_name="Test TSA",
        key=tsa_key,
        key_usage=_key_usage(digital_signature=True, content_commitment=True),
        eku=[ExtendedKeyUsageOID.TIME_STAMPING],
    )
    stamper = DummyTimeStamper(
        tsa_cert=_asn1(tsa_cert),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            tsa_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ),
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = stamper.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SIGNING_TSA_URL = f"http://127.0.0.1:{server.server_address[1]}/"
    yield root[0]
    server.shutdown()
    server.server_close()


def test_with_a_timestamp_authority_the_signature_is_pades_b_t(
    acme: Tenant, statement_pdf: bytes, tsa: x509.Certificate
) -> None:
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")

    status = pyhanko_status(signed, trusting=[dev_ca(acme), tsa])
    assert status.bottom_line
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact
    assert status.timestamp_validity.trusted


def test_an_unreachable_timestamp_authority_is_a_clear_error(
    acme: Tenant, statement_pdf: bytes, settings: Any
) -> None:
    settings.SIGNING_TSA_URL = "http://127.0.0.1:9/"  # discard port: nothing listens

    with pytest.raises(SigningError, match=re.escape("timestamp authority http://127.0.0.1:9/")):
        pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")


# --- the operator's and the tenant's own certificates --------------------------------------


def test_the_operators_pkcs12_signs_for_tenants_without_their_own(
    acme: Tenant, statement_pdf: bytes, settings: Any, tmp_path: Path, signing_var: Path
) -> None:
    p12, password_file, root = make_pkcs12(tmp_path)
    settings.SIGNING_PKCS12_FILE = str(p12)
    settings.SIGNING_PKCS12_PASSWORD = password_file.read_text().strip()

    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")

    assert pyhanko_status(signed, trusting=[root]).bottom_line
    assert not (signing_var / "signing").exists()  # no development CA was made


@pytest.mark.parametrize("problem", ["corrupt", "wrong password", "missing"])
def test_a_broken_operator_pkcs12_is_a_clear_error_not_a_fallback(
    acme: Tenant,
    statement_pdf: bytes,
    settings: Any,
    tmp_path: Path,
    signing_var: Path,
    problem: str,
) -> None:
    p12, password_file, _ = make_pkcs12(tmp_path)
    settings.SIGNING_PKCS12_FILE = str(p12)
    settings.SIGNING_PKCS12_PASSWORD = password_file.read_text().strip()
    if problem == "corrupt":
        p12.write_bytes(p12.read_bytes()[:200])
    elif problem == "wrong password":
        settings.SIGNING_PKCS12_PASSWORD = "not-the-password"
    else:
        p12.unlink()

    with pytest.raises(SigningIdentityError, match="SIGNING_PKCS12_FILE"):
        pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")
    assert not (signing_var / "signing").exists()


def test_a_tenant_installs_its_own_certificate(
    acme: Tenant, globex: Tenant, statement_pdf: bytes, tmp_path: Path, signing_var: Path
) -> None:
    p12, password_file, root = make_pkcs12(tmp_path)
    out = StringIO()

    call_command(
        "signing_certificate_set",
        "--tenant=acme",
        f"--pkcs12={p12}",
        f"--password-file={password_file}",
        stdout=out,
    )

    assert "acme now signs with CN=Operator Document Seal" in out.getvalue()
    stored = signing_var / "signing" / "acme" / "certificate.p12"
    assert stored.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ValueError):  # re-encrypted: the tenant's password no longer opens it
        pkcs12.load_key_and_certificates(stored.read_bytes(), b"p12-Password-1")
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")
    assert pyhanko_status(signed, trusting=[root]).bottom_line
    # Globex is untouched: it still signs with its own development CA.
    assert signing_identity_for(tenant=globex).source == "development"
    with as_tenant(acme):
        event = AuditEvent.objects.get(tenant=acme, action="signing.certificate_set")
    assert event.object_id == signing_identity_for(tenant=acme).fingerprint
    assert event.actor_label.startswith("cli:")


def test_the_installed_certificate_survives_a_secret_key_rotation(
    acme: Tenant, tmp_path: Path, settings: Any
) -> None:
    p12, password_file, _ = make_pkcs12(tmp_path)
    call_command(
        "signing_certificate_set",
        "--tenant=acme",
        f"--pkcs12={p12}",
        f"--password-file={password_file}",
        stdout=StringIO(),
    )
    old_key = settings.SECRET_KEY

    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert signing_identity_for(tenant=acme).source == "tenant"

    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(SigningIdentityError, match="install it again"):
        signing_identity_for(tenant=acme)


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("corrupt", "not a PKCS#12 file or the password is wrong"),
        ("wrong password", "not a PKCS#12 file or the password is wrong"),
        ("no non-repudiation", "non-repudiation"),
        ("expired", "valid only from"),
        ("missing file", "Cannot read the PKCS#12 file"),
    ],
)
def test_an_unusable_pkcs12_is_refused_and_nothing_is_written(
    acme: Tenant, tmp_path: Path, signing_var: Path, problem: str, message: str
) -> None:
    leaf: dict[str, Any] = {}
    if problem == "no non-repudiation":
        leaf["key_usage"] = _key_usage(digital_signature=True)
    if problem == "expired":
        leaf["not_after"] = datetime.now(UTC) - timedelta(hours=1)
    p12, password_file, _ = make_pkcs12(tmp_path, **leaf)
    if problem == "corrupt":
        data = bytearray(p12.read_bytes())
        data[len(data) // 2] ^= 0xFF
        p12.write_bytes(bytes(data))
    if problem == "wrong password":
        password_file.write_text("not-the-password\n")
    if problem == "missing file":
        p12.unlink()

    with pytest.raises(CommandError, match=message):
        call_command(
            "signing_certificate_set",
            "--tenant=acme",
            f"--pkcs12={p12}",
            f"--password-file={password_file}",
        )

    assert not (signing_var / "signing").exists()
    with as_tenant(acme):
        assert not AuditEvent.objects.filter(action="signing.certificate_set").exists()


# --- signing_ca ----------------------------------------------------------------------------


def test_signing_ca_writes_the_ca_that_the_signatures_verify_against(
    acme: Tenant, statement_pdf: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "acme-ca.pem"

    call_command("signing_ca", "--tenant=acme", f"--out={out}", stdout=StringIO())

    (ca,) = x509.load_pem_x509_certificates(out.read_bytes())
    assert ca.subject.rfc4514_string() == (
        "CN=Acme Capital development signing CA,OU=Development only,O=Acme Capital"
    )
    signed = pdf_sign(tenant=acme, pdf=statement_pdf, reason="Margin statement")
    assert pyhanko_status(signed, trusting=[ca]).bottom_line


def test_signing_ca_prints_the_ca_with_out_dash(acme: Tenant) -> None:
    out = StringIO()

    call_command("signing_ca", "--tenant=acme", "--out=-", stdout=out)

    assert x509.load_pem_x509_certificates(out.getvalue().encode()) == [dev_ca(acme)]


def test_signing_ca_for_an_unknown_tenant_fails(db: Any) -> None:
    with pytest.raises(CommandError, match="Unknown tenant 'nobody'"):
        call_command("signing_ca", "--tenant=nobody", "--out=-")


# --- rendering -----------------------------------------------------------------------------


def embedded_font_characters(pdf: bytes) -> set[str]:
    """Characters the embedded font programs can draw (their own cmap, not the PDF's text)."""
    reader = PdfFileReader(BytesIO(pdf))
    characters: set[str] = set()
    for page in reader.root["/Pages"]["/Kids"]:
        for font in page.get_object()["/Resources"]["/Font"].values():
            font = font.get_object()
            if font["/Subtype"] != "/Type0":
                continue
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            program = descriptor.get("/FontFile3") or descriptor.get("/FontFile2")
            cmap = TTFont(BytesIO(program.get_object().data)).getBestCmap() or {}
            characters |= {chr(code) for code, glyph in cmap.items() if glyph != ".notdef"}
    return characters


def test_a_rendered_pdf_embeds_a_font_that_draws_chinese(statement_pdf: bytes) -> None:
    assert statement_pdf.startswith(b"%PDF-")
    assert set("保证金张三") <= embedded_font_characters(statement_pdf)


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="pdffonts comes with poppler-utils")
def test_pdffonts_lists_the_cjk_font_as_embedded(statement_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "statement.pdf"
    path.write_bytes(statement_pdf)

    listing = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)

    rows = [line.split() for line in listing.stdout.splitlines()[2:]]
    assert rows, listing.stdout
    # name, type..., encoding, emb, sub, uni, object, generation
    assert all(row[-5:-2] == ["yes", "yes", "yes"] for row in rows), listing.stdout
    assert any("Platform-CJK-Sans" in row[0] for row in rows)


@pytest.mark.parametrize(
    "reference",
    [
        '<img src="file:///etc/passwd">',
        '<link rel="stylesheet" href="https://cdn.example.com/x.css">',
        '<img src="//other.example/logo.png">',
        '<img src="/media/kyc/passport.png">',
        '<img src="/static/%2e%2e/%2e%2e/platform_core/settings/base.py">',
        '<img src="/static/no/such/file.png">',
    ],
)
def test_the_renderer_refuses_anything_but_the_platforms_static_files(
    settings: Any, reference: str
) -> None:
    settings.TEMPLATES = templates_with(
        {
            "pdf/bad.html": '{% extends "pdf/base.html" %}{% block content %}'
            + reference
            + "{% endblock %}"
        }
    )

    with pytest.raises(PdfRenderError, match=r"pdf/bad.html: (PDF templates may load|No static)"):
        pdf_render(template_name="pdf/bad.html", context={})


def test_the_renderer_reads_static_files_and_data_urls(settings: Any) -> None:
    settings.TEMPLATES = templates_with(
        {
            "pdf/styled.html": '{% extends "pdf/base.html" %}{% block head %}'
            '<link rel="stylesheet" href="/static/css/platform.css">{% endblock %}'
            '{% block content %}<img src="data:image/gif;base64,'
            'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">保证金{% endblock %}'
        }
    )

    pdf = pdf_render(template_name="pdf/styled.html", context={})

    assert "保" in embedded_font_characters(pdf)
