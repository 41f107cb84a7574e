"""The journal's hash chain: canonical form of an entry and its seal hash. Plain Python.

    entry_digest = SHA-256(canonical_json({tenant, entry, type, memo, key, created_at,
                                           reverses, postings: [[account, side, amount,
                                           currency, balance_after], ...] in id order}))
    seal.hash    = SHA-256(prev_hash || ":" || seq || ":" || entry_digest)   (hex, UTF-8)

The first seal of a tenant has prev_hash = 64 zeros. Amounts are plain decimal strings.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from platform_core.audit.chain import GENESIS_HASH, canonical_json, canonical_time

__all__ = ["GENESIS_HASH", "entry_digest", "seal_hash"]


def _amount(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def entry_digest(
    *,
    tenant_id: int,
    entry_id: int,
    entry_type: str,
    memo: str,
    idempotency_key: str,
    created_at: datetime,
    reverses_id: int | None,
    postings: list[tuple[int, str, Decimal, str, Decimal]],
) -> str:
    document: dict[str, Any] = {
        "tenant": tenant_id,
        "entry": entry_id,
        "type": entry_type,
        "memo": memo,
        "key": idempotency_key,
        "created_at": canonical_time(created_at),
        "reverses": reverses_id,
        "postings": [
            [account, side, _amount(amount), currency, _amount(after)]
            for account, side, amount, currency, after in postings
        ],
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def seal_hash(*, prev_hash: str, seq: int, digest: str) -> str:
    return hashlib.sha256(f"{prev_hash}:{seq}:{digest}".encode()).hexdigest()
