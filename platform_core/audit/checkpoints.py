"""Checkpoints: signed heads of RFC 6962 Merkle trees over a tenant's append-only logs.

Two logs exist (``platform_core.hooks.checkpoint_logs``): ``audit``, the tenant's audit events
in ``seq`` order (leaf data: the 32 bytes of the event's chain hash), registered here; and
``journal``, the ledger's sealed journal entries in seal order (leaf data: the 32 bytes of
the seal's hash), registered by the ledger. Each chain hash already commits to its record's
fields and to everything before it; the tree adds what a chain lacks: O(log n) proofs that
one record is included and that today's tree extends yesterday's.

A checkpoint's **statement** is canonical JSON (sorted keys, no spaces, UTF-8)::

    {"log": "audit", "root_hash": "<hex>", "tenant": "acme", "timestamp": "<UTC ISO 8601>",
     "tree_size": 42, "v": 1}

signed with the private key of the tenant's document-signing certificate (the same one that
seals its PDFs: the tenant's own, the operator's, or the development CA's signer), so the
CA certificate an auditor downloads is the one trust root for both. Algorithms: ECDSA with
SHA-256 (``ecdsa-sha256``, DER signature; the development certificates are P-256), RSA
PKCS#1 v1.5 with SHA-256 (``rsa-pkcs1v15-sha256``) or Ed25519 (``ed25519``), by key type.
The signature is base64; the signer certificate and its chain travel with it (PEM).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from django.db import transaction
from django.utils import timezone

from platform_core.audit import transparency
from platform_core.audit.chain import canonical_json
from platform_core.audit.models import AuditEvent, Checkpoint
from platform_core.audit.services import audit_record
from platform_core.audit.signing import SealKey, certificates_pem, signing_identity_for
from platform_core.hooks import CheckpointLog, checkpoint_logs
from platform_core.tenancy.models import Tenant

STATEMENT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be made or does not verify; the message says which."""


# --- the audit log --------------------------------------------------------------------------


def audit_log_leaves(*, tenant: Tenant, size: int | None = None) -> list[bytes]:
    events = AuditEvent.objects.filter(tenant=tenant).order_by("seq").values_list("hash", flat=True)
    if size is not None:
        events = events[:size]
    return [bytes.fromhex(digest) for digest in events.iterator(chunk_size=10000)]


def audit_log_describe(*, tenant: Tenant, index: int) -> dict[str, Any]:
    event = AuditEvent.objects.filter(tenant=tenant, seq=index + 1).first()
    if event is None:
        return {}
    return {
        "type": "audit_event",
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "action": event.action,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


AUDIT_LOG = CheckpointLog(
    key="audit",
    title="Audit events",
    scope="audit_trail",
    leaves=audit_log_leaves,
    describe=audit_log_describe,
)


def checkpoint_log_get(key: str) -> CheckpointLog:
    log = checkpoint_logs.get(key)
    if log is None:
        raise CheckpointError(f"No log {key!r}; known logs: {', '.join(checkpoint_logs.keys())}.")
    return log


# --- signing and verifying a head -----------------------------------------------------------


def _algorithm_of(key: SealKey) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ecdsa-sha256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa-pkcs1v15-sha256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CheckpointError(f"Tree heads are not signed with {type(key).__name__} keys.")


def _sign(key: SealKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    raise CheckpointError(f"Tree heads are not signed with {type(key).__name__} keys.")


def statement_bytes(
    *, tenant: str, log: str, tree_size: int, root_hash: str, timestamp: str
) -> bytes:
    return canonical_json(
        {
            "v": STATEMENT_VERSION,
            "tenant": tenant,
            "log": log,
            "tree_size": tree_size,
            "root_hash": root_hash,
            "timestamp": timestamp,
        }
    )


@dataclass(frozen=True)
class VerifiedHead:
    tenant: str
    log: str
    tree_size: int
    root_hash: bytes
    timestamp: str
    signer: str


def head_document(checkpoint: Checkpoint) -> dict[str, Any]:
    """A signed head as the API serves it and ``checkpoint_verify --head`` reads it."""
    return {
        "id": checkpoint.pk,
        "log": checkpoint.log,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "signed_at": checkpoint.signed_at.astimezone(UTC).isoformat(),
        "statement": checkpoint.statement,
        "algorithm": checkpoint.algorithm,
        "signature": checkpoint.signature,
        "certificate": checkpoint.certificate,
    }


def head_verify(document: Any, *, trust: list[x509.Certificate]) -> VerifiedHead:
    """Check a signed head on its own: the signature over ``statement`` by the certificate,
    the certificate issued by one of ``trust``, and the statement's fields match the head's.

    Raises ``CheckpointError`` naming the first problem.
    """
    if not isinstance(document, dict):
        raise CheckpointError("A signed head is a JSON object.")
    missing = [
        k for k in ("statement", "algorithm", "signature", "certificate") if k not in document
    ]
    if missing:
        raise CheckpointError(f"The signed head lacks {', '.join(missing)}.")
    try:
        certificates = x509.load_pem_x509_certificates(str(document["certificate"]).encode())
        signature = base64.b64decode(str(document["signature"]), validate=True)
        statement = json.loads(str(document["statement"]))
    except ValueError as exc:
        raise CheckpointError(f"The signed head is malformed: {exc}") from exc
    signer, *chain = certificates
    data = str(document["statement"]).encode("utf-8")
    if canonical_json(statement) != data:
        raise CheckpointError("The statement is not in canonical form.")
    key = signer.public_key()
    algorithm = document["algorithm"]
    try:
        if algorithm == "ecdsa-sha256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "rsa-pkcs1v15-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            raise CheckpointError(f"Algorithm {algorithm!r} does not fit the signer's key.")
    except InvalidSignature:
        raise CheckpointError("The signature over the tree head does not verify.") from None
    if not _issued_by_trusted(signer, chain, trust):
        raise CheckpointError(
            "The signer's certificate is not issued by a trusted CA "
            f"({signer.subject.rfc4514_string()})."
        )
    for key_name in ("tree_size", "root_hash", "log"):
        if key_name in document and document[key_name] != statement.get(key_name):
            raise CheckpointError(f"The head's {key_name} differs from the signed statement.")
    try:
        root = bytes.fromhex(statement["root_hash"])
        size = int(statement["tree_size"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"The statement is malformed: {exc}") from exc
    return VerifiedHead(
        tenant=str(statement.get("tenant")),
        log=str(statement.get("log")),
        tree_size=size,
        root_hash=root,
        timestamp=str(statement.get("timestamp")),
        signer=signer.subject.rfc4514_string(),
    )


def _issued_by_trusted(
    signer: x509.Certificate, chain: list[x509.Certificate], trust: list[x509.Certificate]
) -> bool:
    """The signer chains to a trusted certificate through the given chain (issuer by issuer)."""
    trusted = {cert.fingerprint(hashes.SHA256()) for cert in trust}
    pool = [*trust, *chain]
    current, depth = signer, 0
    while depth < 5:
        if current.fingerprint(hashes.SHA256()) in trusted:
            return True
        issuer = next(
            (cert for cert in pool if cert.subject == current.issuer and _signed_by(current, cert)),
            None,
        )
        if issuer is None:
            return False
        if issuer.fingerprint(hashes.SHA256()) in trusted:
            return True
        current, depth = issuer, depth + 1
    return False


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- sealing --------------------------------------------------------------------------------


def checkpoint_latest(*, tenant: Tenant, log: str) -> Checkpoint | None:
    return Checkpoint.objects.filter(tenant=tenant, log=log).order_by("-tree_size").first()


def checkpoint_seal(*, tenant: Tenant, log: str) -> Checkpoint:
    """Seal ``log``'s current tree in a signed head (or return the head of this size).

    Before signing, the newest earlier head must be a prefix of today's leaves: a rewritten
    history is recorded as ``checkpoint.inconsistent`` in the audit trail and never signed.
    """
    kind = checkpoint_log_get(log)
    with transaction.atomic():
        leaves = [transparency.leaf_hash(data) for data in kind.leaves(tenant=tenant)]
        size = len(leaves)
        existing = Checkpoint.objects.filter(tenant=tenant, log=log, tree_size=size).first()
        root = transparency.root_of(leaves)
        previous = checkpoint_latest(tenant=tenant, log=log)
        problem = None
        if existing is not None and existing.root_hash != root.hex():
            problem = (
                f"the tree of {size} leaves has root {root.hex()}, signed {existing.root_hash}"
            )
        elif previous is not None and previous.tree_size > size:
            problem = f"the log shrank from {previous.tree_size} to {size} leaves"
        elif previous is not None:
            earlier = transparency.root_of(leaves[: previous.tree_size])
            if earlier.hex() != previous.root_hash:
                problem = (
                    f"the first {previous.tree_size} leaves now have root {earlier.hex()}, "
                    f"signed {previous.root_hash} (checkpoint {previous.pk})"
                )
        if problem is not None:
            audit_record(
                tenant=tenant,
                actor=None,
                actor_label="system:checkpoints",
                action="checkpoint.inconsistent",
                object_type="checkpoint",
                object_id=previous.pk if previous else "",
                payload={"log": log, "problem": problem},
            )
    if problem is not None:
        # Raised after the block, so the recorded finding stays when the caller catches it.
        raise CheckpointError(f"{tenant.slug} {log}: {problem}")
    with transaction.atomic():
        if existing is not None:
            return existing
        identity = signing_identity_for(tenant=tenant)
        now = timezone.now()
        timestamp = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        statement = statement_bytes(
            tenant=tenant.slug, log=log, tree_size=size, root_hash=root.hex(), timestamp=timestamp
        )
        return Checkpoint.objects.create(
            tenant=tenant,
            log=log,
            tree_size=size,
            root_hash=root.hex(),
            signed_at=now,
            statement=statement.decode("utf-8"),
            algorithm=_algorithm_of(identity.private_key),
            signature=base64.b64encode(_sign(identity.private_key, statement)).decode(),
            certificate=certificates_pem((identity.certificate, *identity.chain)).decode(),
        )


def checkpoints_seal_all_logs(*, tenant: Tenant) -> list[Checkpoint]:
    return [checkpoint_seal(tenant=tenant, log=log.key) for log in checkpoint_logs]


# --- proofs ---------------------------------------------------------------------------------


def checkpoint_list(*, tenant: Tenant, log: str | None = None) -> Any:
    queryset = Checkpoint.objects.filter(tenant=tenant)
    if log:
        queryset = queryset.filter(log=log)
    return queryset.order_by("log", "-tree_size")


def inclusion_proof_for(
    *, tenant: Tenant, checkpoint: Checkpoint, leaf_index: int
) -> dict[str, Any]:
    """The audit path of leaf ``leaf_index`` in the checkpoint's tree, and what the leaf is."""
    kind = checkpoint_log_get(checkpoint.log)
    if not 0 <= leaf_index < checkpoint.tree_size:
        raise CheckpointError(
            f"leaf_index must be between 0 and {checkpoint.tree_size - 1} for this checkpoint."
        )
    data = kind.leaves(tenant=tenant, size=checkpoint.tree_size)
    leaves = [transparency.leaf_hash(d) for d in data]
    return {
        "checkpoint": checkpoint.pk,
        "log": checkpoint.log,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "leaf_index": leaf_index,
        "leaf_data": data[leaf_index].hex(),
        "leaf_hash": leaves[leaf_index].hex(),
        "record": kind.describe(tenant=tenant, index=leaf_index),
        "path": [node.hex() for node in transparency.inclusion_proof(leaf_index, leaves)],
    }


def consistency_proof_for(
    *, tenant: Tenant, older: Checkpoint | None, newer: Checkpoint
) -> dict[str, Any]:
    """The proof that ``newer``'s tree extends ``older``'s (from the empty tree if None)."""
    if older is not None and (older.log != newer.log or older.tree_size > newer.tree_size):
        raise CheckpointError("The older checkpoint must be of the same log and not larger.")
    kind = checkpoint_log_get(newer.log)
    leaves = [transparency.leaf_hash(d) for d in kind.leaves(tenant=tenant, size=newer.tree_size)]
    old_size = older.tree_size if older else 0
    return {
        "log": newer.log,
        "from": {
            "checkpoint": older.pk if older else None,
            "tree_size": old_size,
            "root_hash": older.root_hash if older else transparency.EMPTY_ROOT.hex(),
        },
        "to": {
            "checkpoint": newer.pk,
            "tree_size": newer.tree_size,
            "root_hash": newer.root_hash,
        },
        "path": [node.hex() for node in transparency.consistency_proof(old_size, leaves)],
    }


def proof_path(document: dict[str, Any]) -> list[bytes]:
    try:
        return [bytes.fromhex(node) for node in document["path"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"The proof's path is malformed: {exc}") from exc
