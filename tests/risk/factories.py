"""Instruments, quotes and positions for risk tests.

Market data is global; positions are a tenant's (the caller is in its context).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from ledger.models import LedgerAccount
from risk.models import Instrument, Position, Quote

SOURCES = ("venue-a", "venue-b", "venue-c")


def equity(symbol: str = "XYZ", **fields: object) -> Instrument:
    return Instrument.objects.create(symbol=symbol, kind="equity", **fields)


def option(
    underlying: Instrument,
    *,
    right: str = "call",
    strike: str = "55",
    expiry: date | None = None,
    multiplier: str = "100",
) -> Instrument:
    expiry = expiry or timezone.localdate() + timedelta(days=60)
    return Instrument.objects.create(
        symbol=f"{underlying.symbol} {expiry:%y%m%d}{right[0].upper()}{strike}",
        kind="option",
        underlying=underlying,
        right=right,
        strike=Decimal(strike),
        expiry=expiry,
        multiplier=Decimal(multiplier),
    )


def quote(
    instrument: Instrument, *prices: str, at: datetime | None = None, sources=SOURCES
) -> None:
    """One quote per source (the first price from the first source…) at ``at`` (now)."""
    at = at or timezone.now()
    for source, price in zip(sources, prices, strict=False):
        Quote.objects.create(instrument=instrument, source=source, price=Decimal(price), at=at)


def hold(account: LedgerAccount, instrument: Instrument, quantity: str) -> Position:
    return Position.objects.create(
        tenant=account.tenant, account=account, instrument=instrument, quantity=Decimal(quantity)
    )
