"""The hooks KYC offers to the apps above it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from platform_core.hooks import Listeners, Registry, listener_hook_register


@dataclass(frozen=True)
class TradingActivitySource:
    """Tells monitoring how much a client traded between two instants (the gross value of
    their buys and sells, in the given currency). The risk app registers its fills here; the
    "rapid in-and-out" and "margin-loan cash-out" rules read it. Without a source, monitoring
    assumes no trading, and says so in each alert's evidence."""

    key: str
    turnover: Callable[..., Decimal]  # (*, tenant, membership_id: int, since: datetime,
    #                                    until: datetime, currency: str) -> Decimal


trading_activity: Registry[TradingActivitySource] = Registry(
    "kyc.trading_activity", key_of=lambda s: s.key
)


def turnover_between(
    *, tenant: Any, membership_id: int, since: datetime, until: datetime, currency: str
) -> tuple[Decimal, bool]:
    """Total turnover from every registered source, and whether any source exists."""
    sources = list(trading_activity)
    total = sum(
        (
            Decimal(
                s.turnover(
                    tenant=tenant,
                    membership_id=membership_id,
                    since=since,
                    until=until,
                    currency=currency,
                )
            )
            for s in sources
        ),
        Decimal(0),
    )
    return total, bool(sources)


# Told after commit when a client's computed risk rating differs from their previous one:
# {"tenant": id, "membership": the client's membership id, "previous": "low"|"medium"|"high"
# or None (first rating), "rating": the new level, "at": ISO time}. A re-rating to the same
# level tells nothing. Listeners are idempotent per (membership, at); failures are retried.
risk_rating_changed = listener_hook_register(Listeners("kyc.risk_rating_changed", retry=True))
