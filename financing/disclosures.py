"""The risk disclosure and the credit agreement: rendered from the active margin policy, read,
signed by the client with their typed name, consent and a one-time code, then sealed.

The order of things, each in one transaction:

1. ``document_render`` renders the document (WeasyPrint) in the client's language from the
   tenant's active policy and rate card and stores exactly those bytes with their SHA-256.
   The client reads that PDF; the page shows its hash and version.
2. ``disclosure_sign`` checks the typed name against the profile name (case and spaces
   ignored), the consent and the one-time code, writes the evidence record (append-only,
   hash-chained per tenant), appends an evidence page to the very bytes the client read (an
   incremental update: the original file is a prefix of the result) and THEN seals the whole
   with the tenant's certificate (PAdES). A signed file is never stamped again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from financing.models import DisclosureDocument, RateCard, SignatureRecord
from financing.policy import PolicyTerms, policy_terms_active
from platform_core.accounts.services import otp_verify
from platform_core.audit.chain import canonical_json
from platform_core.audit.rendering import pdf_render
from platform_core.audit.services import audit_record
from platform_core.audit.signing import pdf_sign
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.roles import Role

# Bumped whenever the wording of a template changes: it is part of the document version.
TEMPLATE_VERSIONS = {
    DisclosureDocument.Kind.RISK_DISCLOSURE: "2026.11-1",
    DisclosureDocument.Kind.CREDIT_AGREEMENT: "2026.11-1",
}
LANGUAGES = ("zh-hans", "en")
GENESIS = "0" * 64
SIGNATURE_FIELD = "FinancingSeal"
REQUIRED_KINDS = (DisclosureDocument.Kind.RISK_DISCLOSURE, DisclosureDocument.Kind.CREDIT_AGREEMENT)


def intent_text(*, kind: str, language: str) -> str:
    """The sentence the client confirms, in the document's language (stored as shown)."""
    with translation.override(language):
        if kind == DisclosureDocument.Kind.RISK_DISCLOSURE:
            return str(
                translation.gettext(
                    "I have read and understood this risk disclosure, including when my "
                    "positions may be reduced or liquidated, and I sign it electronically."
                )
            )
        return str(
            translation.gettext(
                "I have read this credit agreement and agree to its terms, and I sign it "
                "electronically."
            )
        )


def _invalid(fields: dict[str, list[str]]) -> ApplicationError:
    return ApplicationError(400, "invalid", "The request has invalid fields.", fields)


def _client(membership: Membership) -> None:
    if membership.role != Role.CLIENT:
        raise ApplicationError(403, "permission_denied", "Only a client signs their documents.")


def name_normalised(value: str) -> str:
    """Case and spaces do not matter: "Zhang San", "zhangsan" and "ZHANG  SAN" are one name."""
    return re.sub(r"\s+", "", value or "").casefold()


def _policy_required(tenant: Tenant) -> PolicyTerms:
    policy = policy_terms_active(tenant=tenant)
    if policy is None:
        raise ApplicationError(
            409,
            "no_active_policy",
            "There is no active margin policy yet: nothing can be signed or drawn.",
        )
    return policy


def _rate_cards(tenant: Tenant) -> list[RateCard]:
    newest: dict[str, RateCard] = {}
    for card in RateCard.objects.filter(tenant=tenant).order_by("currency", "-version"):
        newest.setdefault(card.currency, card)
    return list(newest.values())


def document_render(
    *, tenant: Tenant, membership: Membership, kind: str, language: str
) -> DisclosureDocument:
    """Render ``kind`` for this client from the active policy and store the exact bytes."""
    _client(membership)
    if kind not in TEMPLATE_VERSIONS:
        raise _invalid({"kind": [f"{kind!r} is not a document kind."]})
    if language not in LANGUAGES:
        raise _invalid({"language": [f"Choose one of {', '.join(LANGUAGES)}."]})
    policy = _policy_required(tenant)
    with translation.override(language):
        pdf = pdf_render(
            template_name=f"financing/pdf/{kind}.html",
            context={
                "tenant": tenant,
                "client": membership.user,
                "policy": policy,
                "ladder": [
                    (step, value, (value * 100).quantize(Decimal(1)))
                    for step, value in policy.ladder.items()
                ],
                "rate_cards": _rate_cards(tenant),
                "template_version": TEMPLATE_VERSIONS[kind],
                "intent": intent_text(kind=kind, language=language),
            },
        )
    with transaction.atomic():
        document = DisclosureDocument.objects.create(
            tenant=tenant,
            membership=membership,
            kind=kind,
            language=language,
            template_version=TEMPLATE_VERSIONS[kind],
            policy_name=policy.name,
            policy_version=policy.version,
            policy_digest=policy.digest,
            sha256=hashlib.sha256(pdf).hexdigest(),
            pdf=pdf,
        )
    return document


def access_document_by_id(
    *, tenant: Tenant, membership: Membership, document_id: object
) -> DisclosureDocument:
    """A client reaches only their own documents; anything else is the one 404."""
    document = access_object_by_id(DisclosureDocument, tenant=tenant, object_id=document_id)
    if document.membership_id != membership.pk:
        return access_object_by_id(DisclosureDocument, tenant=tenant, object_id=-1)
    return document


def access_signature_by_id(
    *, tenant: Tenant, membership: Membership, signature_id: object
) -> SignatureRecord:
    """The client's own signed documents; staff of the tenant read every one."""
    record = access_object_by_id(SignatureRecord, tenant=tenant, object_id=signature_id)
    if membership.role == Role.CLIENT and record.membership_id != membership.pk:
        return access_object_by_id(SignatureRecord, tenant=tenant, object_id=-1)
    return record


# --- signing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningContext:
    """Where the signature came from: the request's address and browser."""

    ip: str | None
    user_agent: str

    @classmethod
    def of(cls, request: HttpRequest | None) -> SigningContext:
        if request is None:
            return cls(ip=None, user_agent="")
        return cls(
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:500],
        )


def record_digest_of(evidence: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(evidence)).hexdigest()


def record_hash_of(*, prev_hash: str, seq: int, record_digest: str, signed_sha256: str) -> str:
    text = f"{prev_hash}:{seq}:{record_digest}:{signed_sha256}"
    return hashlib.sha256(text.encode()).hexdigest()


def _chain_head(tenant: Tenant) -> tuple[int, str]:
    # One signer at a time per tenant appends to the chain (held until commit).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('financing.signature'), %s)", [tenant.pk]
        )
    last = SignatureRecord.objects.filter(tenant=tenant).order_by("-seq").first()
    return (last.seq + 1, last.record_hash) if last else (1, GENESIS)


def pdf_page_append(*, pdf: bytes, page_pdf: bytes) -> bytes:
    """``pdf`` with the first page of ``page_pdf`` added at the end, as an incremental update:
    the original bytes are unchanged and stay a prefix of the result."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    source = PdfFileReader(BytesIO(page_pdf))
    xobject = writer.import_page_as_xobject(source, page_ix=0)
    page_ref, _ = source.find_page_for_modification(0)
    mediabox = page_ref.get_object()["/MediaBox"]
    content = generic.StreamObject(stream_data=b"q /Evidence Do Q")
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject(list(mediabox)),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Evidence"): xobject})}
            ),
            pdf_name("/Contents"): writer.add_object(content),
        }
    )
    writer.insert_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def disclosure_sign(
    *,
    tenant: Tenant,
    membership: Membership,
    document_id: object,
    typed_name: str,
    consent: bool,
    otp: str,
    request: HttpRequest | None = None,
) -> SignatureRecord:
    """The client signs the document they read. Refusals change nothing."""
    _client(membership)
    document = access_document_by_id(tenant=tenant, membership=membership, document_id=document_id)
    user = membership.user
    problems: dict[str, list[str]] = {}
    if not consent:
        problems["consent"] = ["Tick the box to confirm you agree."]
    profile_name = name_normalised(user.full_name)
    if not profile_name:
        problems["typed_name"] = ["Your profile has no name yet; complete your profile first."]
    elif name_normalised(typed_name) != profile_name:
        problems["typed_name"] = ["Type your name exactly as it is in your profile."]
    if problems:
        raise _invalid(problems)
    policy = _policy_required(tenant)
    if document.policy_digest != policy.digest:
        raise ApplicationError(
            409,
            "document_outdated",
            "The margin policy changed since this document was prepared; open the new one.",
        )
    outcome = otp_verify(user=user, token=otp)
    if outcome.device is None:
        raise _invalid(
            {
                "otp": [
                    "Too many wrong codes; wait and try again."
                    if outcome.throttled
                    else "This code is not valid."
                ]
            }
        )
    context = SigningContext.of(request)
    signed_at = timezone.now()
    evidence = {
        "tenant": tenant.slug,
        "document_id": document.pk,
        "kind": document.kind,
        "document_sha256": document.sha256,
        "document_version": document.document_version,
        "language": document.language,
        "policy": {
            "name": document.policy_name,
            "version": document.policy_version,
            "digest": document.policy_digest,
        },
        "signer": {
            "user_id": user.pk,
            "membership_id": membership.pk,
            "email": user.email,
            "profile_name": user.full_name,
            "typed_name": typed_name.strip(),
            "person_ref": user.person_ref,
        },
        "authentication": {
            "method": "password session + one-time code (step-up) at signing",
            "device": getattr(outcome.device, "persistent_id", str(outcome.device)),
            "verified_at": signed_at.isoformat(),
        },
        "intent_text": intent_text(kind=document.kind, language=document.language),
        "consent": True,
        "signed_at": signed_at.isoformat(),
        "ip": context.ip,
        "user_agent": context.user_agent,
    }
    digest = record_digest_of(evidence)
    with transaction.atomic():
        seq, prev_hash = _chain_head(tenant)
        with translation.override(document.language):
            page = pdf_render(
                template_name="financing/pdf/evidence.html",
                context={"evidence": evidence, "digest": digest, "seq": seq, "prev": prev_hash},
            )
        stamped = pdf_page_append(pdf=bytes(document.pdf), page_pdf=page)
        signed = pdf_sign(
            tenant=tenant,
            pdf=stamped,
            reason=f"{document.kind} signed by {user.email}",
            field_name=SIGNATURE_FIELD,
        )
        signed_sha256 = hashlib.sha256(signed).hexdigest()
        record = SignatureRecord.objects.create(
            tenant=tenant,
            seq=seq,
            prev_hash=prev_hash,
            record_digest=digest,
            record_hash=record_hash_of(
                prev_hash=prev_hash, seq=seq, record_digest=digest, signed_sha256=signed_sha256
            ),
            document=document,
            membership=membership,
            kind=document.kind,
            document_sha256=document.sha256,
            document_version=document.document_version,
            language=document.language,
            policy_name=document.policy_name,
            policy_version=document.policy_version,
            policy_digest=document.policy_digest,
            signer=evidence["signer"],
            authentication=evidence["authentication"],
            intent_text=evidence["intent_text"],
            ip=context.ip,
            user_agent=context.user_agent,
            signed_at=signed_at,
            signed_pdf=signed,
            signed_sha256=signed_sha256,
        )
        audit_record(
            tenant=tenant,
            actor=user,
            action="financing.document_signed",
            object_type="signature",
            object_id=record.pk,
            payload={
                "kind": document.kind,
                "document_sha256": document.sha256,
                "policy_digest": document.policy_digest,
                "signed_sha256": signed_sha256,
                "record_hash": record.record_hash,
            },
            request=request,
        )
    return record


def evidence_of(record: SignatureRecord) -> dict[str, Any]:
    """The evidence document whose digest the record stores (to recompute it)."""
    return {
        "tenant": record.tenant.slug,
        "document_id": record.document_id,
        "kind": record.kind,
        "document_sha256": record.document_sha256,
        "document_version": record.document_version,
        "language": record.language,
        "policy": {
            "name": record.policy_name,
            "version": record.policy_version,
            "digest": record.policy_digest,
        },
        "signer": record.signer,
        "authentication": record.authentication,
        "intent_text": record.intent_text,
        "consent": True,
        "signed_at": record.signed_at.isoformat(),
        "ip": record.ip,
        "user_agent": record.user_agent,
    }


def signature_chain_verify(*, tenant: Tenant) -> list[str]:
    """Recompute every record's digest and the chain; the problems found (empty: intact)."""
    problems = []
    prev = GENESIS
    for expected_seq, record in enumerate(
        SignatureRecord.objects.filter(tenant=tenant).order_by("seq"), start=1
    ):
        if record.seq != expected_seq:
            problems.append(f"seq {record.seq}: expected {expected_seq}")
        if record_digest_of(evidence_of(record)) != record.record_digest:
            problems.append(f"seq {record.seq}: the evidence does not match its digest")
        if hashlib.sha256(bytes(record.signed_pdf)).hexdigest() != record.signed_sha256:
            problems.append(f"seq {record.seq}: the signed PDF does not match its hash")
        expected = record_hash_of(
            prev_hash=prev,
            seq=record.seq,
            record_digest=record.record_digest,
            signed_sha256=record.signed_sha256,
        )
        if record.prev_hash != prev or record.record_hash != expected:
            problems.append(f"seq {record.seq}: the chain is broken")
        prev = record.record_hash
    return problems


def signature_current(
    *, tenant: Tenant, membership: Membership, kind: str
) -> SignatureRecord | None:
    """The client's signature of ``kind`` under the active policy (same digest), if any."""
    policy = policy_terms_active(tenant=tenant)
    if policy is None:
        return None
    return (
        SignatureRecord.objects.filter(
            tenant=tenant, membership=membership, kind=kind, policy_digest=policy.digest
        )
        .order_by("-seq")
        .first()
    )


def signing_missing(*, tenant: Tenant, membership: Membership) -> list[str]:
    """The documents the client must still sign under the active policy (empty: none)."""
    return [
        kind
        for kind in REQUIRED_KINDS
        if signature_current(tenant=tenant, membership=membership, kind=kind) is None
    ]
