"""Reading and verifying the audit trail."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from platform_core.audit.chain import GENESIS_HASH, ChainFields, canonical_json, sha256_hex
from platform_core.audit.models import AuditEvent


@dataclass(frozen=True)
class ChainBreak:
    tenant_id: int | None
    seq: int
    event_id: int
    problem: str

    def __str__(self) -> str:
        chain = f"tenant {self.tenant_id}" if self.tenant_id else "platform chain"
        return f"{chain}: event #{self.seq} (id {self.event_id}) {self.problem}"


def audit_event_list(*, tenant: object) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(tenant=tenant).order_by("-seq")


def audit_chain_verify(*, tenant_id: int | None) -> tuple[int, ChainBreak | None]:
    """Recompute one chain; return (events checked, first break or None)."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    events = AuditEvent.objects.filter(tenant_id=tenant_id).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        checked += 1
        if event.seq != expected_seq:
            return checked, ChainBreak(
                tenant_id, event.seq, event.pk, f"is out of sequence (expected #{expected_seq})"
            )
        if event.prev_hash != prev_hash:
            return checked, ChainBreak(
                tenant_id, event.seq, event.pk, "does not link to the previous event's hash"
            )
        if sha256_hex(canonical_json(event.payload)) != event.payload_digest:
            return checked, ChainBreak(
                tenant_id, event.seq, event.pk, "has a payload that does not match its digest"
            )
        recomputed = ChainFields(
            tenant=event.tenant_id,
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor=event.actor_id,
            actor_label=event.actor_label,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            reason=event.reason,
            request_id=event.request_id,
            ip=event.ip_address,
            payload_digest=event.payload_digest,
            prev_hash=event.prev_hash,
        ).digest()
        if recomputed != event.hash:
            return checked, ChainBreak(
                tenant_id, event.seq, event.pk, "was altered: its hash does not match its fields"
            )
        expected_seq, prev_hash = expected_seq + 1, event.hash
    return checked, None
