"""Sealing PDFs: PAdES signatures with the tenant's, the operator's or a development certificate.

Which certificate signs a tenant's documents, first match wins:

1. the tenant's own PKCS#12, installed with ``manage.py signing_certificate_set`` and kept in
   ``VAR_DIR/signing/<slug>/certificate.p12``, re-encrypted under a key derived from
   ``SECRET_KEY`` (the tenant's password is never stored);
2. the operator's PKCS#12 named by ``SIGNING_PKCS12_FILE`` (password ``SIGNING_PKCS12_PASSWORD``
   or ``SIGNING_PKCS12_PASSWORD_FILE``), shared by every tenant without its own;
3. a development CA and signing certificate made for the tenant on first use in
   ``VAR_DIR/signing/<slug>/dev-ca/``, so each tenant's documents verify against that tenant's
   CA only (``manage.py signing_ca`` writes it out).

Signatures are PAdES B-B, and B-T (an RFC 3161 timestamp) when ``SIGNING_TSA_URL`` is set.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings
from django.db import transaction
from django.utils.crypto import salted_hmac
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from platform_core.audit.services import audit_record
from platform_core.tenancy.rls import rls_context

if TYPE_CHECKING:
    from platform_core.tenancy.models import Tenant

logger = logging.getLogger(__name__)

SEAL_FIELD_NAME = "PlatformSeal"
TSA_TIMEOUT_SECONDS = 10
# The slug becomes a directory name; anything but these characters could walk out of var/.
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DEV_CA_DIR = "dev-ca"
_TENANT_PKCS12 = "certificate.p12"
_KEY_DERIVATION_SALT = "platform_core.audit.signing.certificate"
DOCUMENT_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning

IdentitySource = Literal["tenant", "operator", "development"]
# The key types a PKCS#12 can hold that pyHanko signs with.
SealKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


class SigningError(Exception):
    """A document could not be sealed; the message says why and what to do."""


class InvalidPdfError(SigningError):
    """The bytes given are not a PDF that can be signed."""


class SigningIdentityError(SigningError):
    """A certificate or key is unreadable, mismatched or unfit for sealing documents."""


@dataclass(frozen=True)
class SigningIdentity:
    """The key and certificate that seal a tenant's documents, and where they came from."""

    source: IdentitySource
    certificate: x509.Certificate
    private_key: SealKey
    chain: tuple[x509.Certificate, ...]  # issuers of ``certificate``, embedded in signatures

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    def ca_certificates(self) -> tuple[x509.Certificate, ...]:
        """The chain's CA certificates: what a verifier adds to its trust store."""
        return tuple(cert for cert in self.chain if _is_ca(cert))

    def signer(self) -> signers.SimpleSigner:
        key_der = self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return signers.SimpleSigner(
            signing_cert=_asn1_certificate(self.certificate),
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs(
                [_asn1_certificate(cert) for cert in self.chain]
            ),
        )


# --- signing -------------------------------------------------------------------------------


def pdf_sign(
    *,
    tenant: Tenant,
    pdf: bytes,
    reason: str,
    field_name: str = SEAL_FIELD_NAME,
    location: str = "",
) -> bytes:
    """Return ``pdf`` with an invisible PAdES signature by ``tenant``'s signing identity.

    B-B, or B-T when ``SIGNING_TSA_URL`` names a timestamp authority. The input is parsed
    before any key is touched, so bytes that are not a PDF fail without creating anything.
    """
    writer = _pdf_writer(pdf)
    identity = signing_identity_for(tenant=tenant)
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=reason or None,
        location=location or None,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
    )
    tsa_url = settings.SIGNING_TSA_URL
    timestamper = RequestsHTTPTimeStamper(tsa_url, timeout=TSA_TIMEOUT_SECONDS) if tsa_url else None
    try:
        signed = signers.sign_pdf(
            writer, metadata, signer=identity.signer(), timestamper=timestamper
        )
    except TimestampRequestError as exc:
        raise SigningError(f"The timestamp authority {tsa_url} did not answer: {exc}") from exc
    except (PyHankoSigningError, PdfError) as exc:
        raise SigningError(f"The PDF could not be signed: {exc}") from exc
    return signed.getvalue()


def _pdf_writer(pdf: bytes) -> IncrementalPdfFileWriter:
    # ISO 32000 lets the header sit anywhere in the first 1024 bytes.
    if not isinstance(pdf, bytes | bytearray) or b"%PDF-" not in pdf[:1024]:
        raise InvalidPdfError("This is not a PDF: it has no %PDF- header.")
    try:
        writer = IncrementalPdfFileWriter(BytesIO(bytes(pdf)))
    except (PdfError, ValueError, KeyError, IndexError) as exc:
        raise InvalidPdfError(f"This PDF is damaged and cannot be signed: {exc}") from exc
    if writer.prev.encrypted:
        raise InvalidPdfError("This PDF is encrypted; only unencrypted PDFs can be signed.")
    return writer


# --- choosing the identity -----------------------------------------------------------------


def signing_directory(*, tenant: Tenant) -> Path:
    """Where ``tenant``'s signing material lives (``VAR_DIR/signing/<slug>``)."""
    slug = tenant.slug
    if not _SLUG_RE.fullmatch(slug):
        raise SigningIdentityError(f"Tenant slug {slug!r} cannot name a directory.")
    return Path(settings.VAR_DIR) / "signing" / slug


def signing_identity_for(*, tenant: Tenant) -> SigningIdentity:
    """The identity that seals ``tenant``'s documents (see the module docstring for the order).

    The development CA is created here on first use, once even when several processes ask at
    the same moment.
    """
    directory = signing_directory(tenant=tenant)
    installed = directory / _TENANT_PKCS12
    if installed.exists():
        return _tenant_identity_load(tenant=tenant, path=installed)
    if settings.SIGNING_PKCS12_FILE:
        return _operator_identity_load()
    return _development_identity(tenant=tenant, directory=directory)


def _operator_identity_load() -> SigningIdentity:
    path = Path(settings.SIGNING_PKCS12_FILE)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningIdentityError(
            f"SIGNING_PKCS12_FILE={path} cannot be read: {exc.strerror}."
        ) from exc
    return identity_from_pkcs12(
        data=data,
        password=settings.SIGNING_PKCS12_PASSWORD.encode(),
        source="operator",
        label=f"SIGNING_PKCS12_FILE ({path})",
    )


def identity_from_pkcs12(
    *, data: bytes, password: bytes, source: IdentitySource, label: str
) -> SigningIdentity:
    """Read a PKCS#12 archive and check that it can seal documents today.

    The key must match the certificate, the certificate must be valid now and carry the
    non-repudiation key usage that validators (pyHanko by default, Adobe) expect of a seal.
    """
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, password or None)
    except ValueError as exc:
        raise SigningIdentityError(
            f"{label} cannot be opened: it is not a PKCS#12 file or the password is wrong."
        ) from exc
    return _identity_checked(
        key=key, certificate=certificate, others=others, source=source, label=label
    )


def _identity_checked(
    *,
    key: PrivateKeyTypes | None,
    certificate: x509.Certificate | None,
    others: list[x509.Certificate],
    source: IdentitySource,
    label: str,
) -> SigningIdentity:
    if key is None or certificate is None:
        raise SigningIdentityError(f"{label} must hold a private key and its certificate.")
    if not isinstance(key, SealKey):
        raise SigningIdentityError(
            f"{label}: a {type(key).__name__} cannot sign; use an RSA, EC or EdDSA key."
        )
    if key.public_key() != certificate.public_key():
        raise SigningIdentityError(f"{label}: the private key does not match the certificate.")
    valid_from, valid_to = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if not valid_from <= datetime.now(UTC) <= valid_to:
        raise SigningIdentityError(
            f"{label}: the certificate is valid only from {valid_from:%Y-%m-%d} "
            f"to {valid_to:%Y-%m-%d}."
        )
    if not _has_non_repudiation(certificate):
        raise SigningIdentityError(
            f"{label}: the certificate lacks the non-repudiation (contentCommitment) key usage "
            "that document signatures need."
        )
    return SigningIdentity(
        source=source, certificate=certificate, private_key=key, chain=tuple(others)
    )


# --- a tenant's own certificate ------------------------------------------------------------


def signing_certificate_set(
    *, tenant: Tenant, pkcs12_data: bytes, password: bytes, actor: Any = None, actor_label: str = ""
) -> SigningIdentity:
    """Install ``tenant``'s own PKCS#12 so its documents are sealed with it from now on.

    Checked in full before anything is written. The archive is stored re-encrypted under a
    key derived from ``SECRET_KEY`` (its own password is not kept anywhere), replacing any
    previous one atomically, and the change is recorded in the tenant's audit trail.
    """
    identity = identity_from_pkcs12(
        data=pkcs12_data, password=password, source="tenant", label="The PKCS#12 file"
    )
    directory = signing_directory(tenant=tenant)
    stored = pkcs12.serialize_key_and_certificates(
        name=tenant.slug.encode(),
        key=identity.private_key,
        cert=identity.certificate,
        cas=list(identity.chain) or None,
        encryption_algorithm=serialization.BestAvailableEncryption(
            _stored_key_password(tenant=tenant, secret=settings.SECRET_KEY)
        ),
    )
    _directory_make(directory)
    with _staged_file(directory / _TENANT_PKCS12, stored, mode=0o600) as commit:
        with transaction.atomic(), rls_context(tenant=tenant):
            audit_record(
                tenant=tenant,
                actor=actor,
                actor_label=actor_label,
                action="signing.certificate_set",
                object_type="signing_certificate",
                object_id=identity.fingerprint,
                payload={
                    "subject": identity.certificate.subject.rfc4514_string(),
                    "issuer": identity.certificate.issuer.rfc4514_string(),
                    "serial": format(identity.certificate.serial_number, "x"),
                    "sha256": identity.fingerprint,
                    "not_after": identity.certificate.not_valid_after_utc.isoformat(),
                },
            )
            # Last step inside the transaction: a failed rename rolls the audit event back.
            commit()
    return identity


def _tenant_identity_load(*, tenant: Tenant, path: Path) -> SigningIdentity:
    data = path.read_bytes()
    label = f"The installed certificate {path}"
    # The current key first, then the fallbacks, as Django does when rotating SECRET_KEY.
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        password = _stored_key_password(tenant=tenant, secret=secret)
        try:
            key, certificate, others = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            continue
        return _identity_checked(
            key=key, certificate=certificate, others=others, source="tenant", label=label
        )
    raise SigningIdentityError(
        f"{label} cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS; "
        "install it again with manage.py signing_certificate_set."
    )


def _stored_key_password(*, tenant: Tenant, secret: str | bytes) -> bytes:
    digest = salted_hmac(_KEY_DERIVATION_SALT, tenant.slug, secret=secret, algorithm="sha256")
    return base64.urlsafe_b64encode(digest.digest())


# --- the development CA --------------------------------------------------------------------


def _development_identity(*, tenant: Tenant, directory: Path) -> SigningIdentity:
    ca_dir = directory / _DEV_CA_DIR
    if not ca_dir.is_dir():
        _directory_make(directory)
        with _exclusive_lock(directory / ".lock"):
            # Another process may have finished while this one waited for the lock.
            if not ca_dir.is_dir():
                _development_ca_create(tenant=tenant, ca_dir=ca_dir)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    certificate = x509.load_pem_x509_certificate((ca_dir / "signer.pem").read_bytes())
    key = serialization.load_pem_private_key((ca_dir / "signer.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # made by _development_ca_create
    return SigningIdentity(
        source="development", certificate=certificate, private_key=key, chain=(ca_cert,)
    )


def _development_ca_create(*, tenant: Tenant, ca_dir: Path) -> None:
    """Make the CA and the signing certificate in a scratch directory, then rename it in place.

    A crash leaves a scratch directory behind, never a CA without its signing certificate.
    """
    now = datetime.now(UTC)
    organisation = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, tenant.name)]
    unit = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Development only")]

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name(
        [
            *organisation,
            *unit,
            x509.NameAttribute(NameOID.COMMON_NAME, f"{tenant.name} development signing CA"),
        ]
    )
    ca_cert = (
        _certificate_builder(subject=ca_name, issuer=ca_name, key=ca_key, now=now)
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA384())
    )

    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_name = x509.Name(
        [
            *organisation,
            *unit,
            x509.NameAttribute(NameOID.COMMON_NAME, f"{tenant.name} document signing"),
        ]
    )
    signer_cert = (
        _certificate_builder(subject=signer_name, issuer=ca_name, key=signer_key, now=now)
        .not_valid_after(now + timedelta(days=3650 - 1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, content_commitment=True), critical=True)
        # Document signing (RFC 9336) plus e-mail protection: NSS, and so poppler's pdfsig,
        # checks signature certificates for the e-mail signer usage.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING_EKU]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA384())
    )

    scratch = Path(tempfile.mkdtemp(prefix=".dev-ca-", dir=ca_dir.parent))
    try:
        _file_write(scratch / "ca.key", _private_pem(ca_key), mode=0o600)
        _file_write(scratch / "signer.key", _private_pem(signer_key), mode=0o600)
        _file_write(scratch / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
        _file_write(scratch / "signer.pem", signer_cert.public_bytes(serialization.Encoding.PEM))
        os.rename(scratch, ca_dir)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    logger.info("signing: created the development CA for tenant %s in %s", tenant.slug, ca_dir)


def _certificate_builder(
    *, subject: x509.Name, issuer: x509.Name, key: Any, now: datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # An hour back: a verifier whose clock is a little behind still accepts it.
        .not_valid_before(now - timedelta(hours=1))
    )


def _key_usage(**granted: bool) -> x509.KeyUsage:
    usages = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    return x509.KeyUsage(**{**usages, **granted})


def _private_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- certificates and files ----------------------------------------------------------------


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _has_non_repudiation(certificate: x509.Certificate) -> bool:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return usage.content_commitment


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def certificates_pem(certificates: tuple[x509.Certificate, ...]) -> bytes:
    return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)


def _directory_make(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An flock on ``path``: it excludes other processes and, each open being its own, threads."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _file_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _staged_file(path: Path, data: bytes, *, mode: int) -> Iterator[Any]:
    """Write ``data`` beside ``path``; the block calls the yielded ``commit`` to rename it in.

    If the block fails or never commits, the staged file is removed and ``path`` is untouched.
    """
    fd, staged = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        yield lambda: os.replace(staged, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
