"""Writing to the audit trail. Call inside the transaction of the change being recorded."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from platform_core.audit.chain import GENESIS_HASH, ChainFields, canonical_json, sha256_hex
from platform_core.audit.models import AuditEvent
from platform_core.request_context import current_request_id

# pg_advisory_xact_lock(classid, objid): classid names the audit chain, objid the tenant.
_AUDIT_LOCK_CLASS = 0x41554454  # "AUDT"


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    tenant: Any,
    actor: Any,
    action: str,
    object_type: str = "",
    object_id: Any = "",
    reason: str = "",
    payload: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Append one event to ``tenant``'s chain (``tenant=None``: the platform chain).

    Appends are serialised per chain by a transaction-scoped advisory lock, so concurrent
    writers never fork the chain; the lock is held until the surrounding transaction ends.
    """
    # Stored exactly as hashed: Decimals and datetimes become their canonical strings.
    payload = json.loads(canonical_json(payload or {}))
    actor_id = getattr(actor, "pk", None) if actor is not None else None
    if actor is not None and getattr(actor, "is_authenticated", False) is False:
        actor_id = None
    label = actor_label or (getattr(actor, "email", "") if actor_id else "")
    tenant_id = getattr(tenant, "pk", tenant)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_AUDIT_LOCK_CLASS, tenant_id or 0]
            )
        last = (
            AuditEvent.objects.filter(tenant_id=tenant_id)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        fields = ChainFields(
            tenant=tenant_id,
            seq=seq,
            occurred_at=timezone.now(),
            actor=actor_id,
            actor_label=label,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            reason=reason,
            request_id=getattr(request, "request_id", "") or current_request_id(),
            ip=_client_ip(request),
            payload_digest=sha256_hex(canonical_json(payload)),
            prev_hash=prev_hash,
        )
        return AuditEvent.objects.create(
            tenant_id=tenant_id,
            seq=fields.seq,
            occurred_at=fields.occurred_at,
            actor_id=actor_id,
            actor_label=fields.actor_label,
            action=action,
            object_type=object_type,
            object_id=fields.object_id,
            reason=reason,
            request_id=fields.request_id,
            ip_address=fields.ip,
            payload=payload,
            payload_digest=fields.payload_digest,
            prev_hash=prev_hash,
            hash=fields.digest(),
        )


def audit_chain_checkpoint(*, tenant: Any) -> AuditEvent:
    """Verify ``tenant``'s chain and append the outcome: the head it vouches for, or the break."""
    from platform_core.audit.selectors import audit_chain_verify

    with transaction.atomic():
        with connection.cursor() as cursor:
            # Same lock as audit_record: no event can slip in between check and checkpoint.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_AUDIT_LOCK_CLASS, tenant.pk])
        checked, broken = audit_chain_verify(tenant_id=tenant.pk)
        if broken is None:
            head = AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first()
            return audit_record(
                tenant=tenant,
                actor=None,
                actor_label="system:audit_verify",
                action="audit.chain_verified",
                payload={
                    "events": checked,
                    "head_seq": head.seq if head else 0,
                    "head_hash": head.hash if head else GENESIS_HASH,
                },
            )
        return audit_record(
            tenant=tenant,
            actor=None,
            actor_label="system:audit_verify",
            action="audit.chain_broken",
            payload={"events": checked, "first_broken_seq": broken.seq, "problem": str(broken)},
        )
