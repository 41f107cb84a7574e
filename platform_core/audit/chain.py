"""Canonical form and hashing of audit events. Plain Python, so outsiders can re-implement it.

    payload_digest = sha256(canonical_json(payload))
    hash           = sha256(canonical_json({v, tenant, seq, occurred_at, actor, actor_label,
                                            action, object_type, object_id, reason,
                                            request_id, ip, payload_digest, prev_hash}))

canonical_json: keys sorted, no whitespace, UTF-8, non-ASCII kept as is; times in UTC,
ISO 8601 with microseconds. The first event of a chain has prev_hash = 64 zeros.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64
CHAIN_VERSION = 1


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return canonical_time(value)
    raise TypeError(f"{type(value).__name__} is not allowed in an audit payload")


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode("utf-8")


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ChainFields:
    tenant: int | None
    seq: int
    occurred_at: datetime
    actor: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    reason: str
    request_id: str
    ip: str | None
    payload_digest: str
    prev_hash: str

    def digest(self) -> str:
        return sha256_hex(
            canonical_json(
                {
                    "v": CHAIN_VERSION,
                    "tenant": self.tenant,
                    "seq": self.seq,
                    "occurred_at": canonical_time(self.occurred_at),
                    "actor": self.actor,
                    "actor_label": self.actor_label,
                    "action": self.action,
                    "object_type": self.object_type,
                    "object_id": self.object_id,
                    "reason": self.reason,
                    "request_id": self.request_id,
                    "ip": self.ip,
                    "payload_digest": self.payload_digest,
                    "prev_hash": self.prev_hash,
                }
            )
        )
