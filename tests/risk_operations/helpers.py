"""A market and books for the margin-call loop's tests.

Prices move by writing quotes at a moment and sweeping at that moment, so the oracle sees
them fresh; a sweep is ``ladder_sweep`` (the engine on the account at the oracle's prices).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ledger.models import LedgerAccount
from ledger.selectors import trial_balance
from risk.models import Instrument, Quote
from risk.operations.services import ladder_sweep
from tests.risk.factories import SOURCES

_sweeps = itertools.count(1)


class Clock:
    """A moment that moves forward by a minute per price change (quotes stay fresh)."""

    def __init__(self) -> None:
        self.now = timezone.now() - timedelta(hours=2)

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def prices(clock: Clock, **by_symbol: str) -> datetime:
    """Quote each instrument (by symbol) at the next tick from every source."""
    at = clock.tick()
    for symbol, price in by_symbol.items():
        instrument = Instrument.objects.get(symbol=symbol)
        for source in SOURCES:
            Quote.objects.create(instrument=instrument, source=source, price=Decimal(price), at=at)
    return at


def sweep(tenant: Any, clock: Clock, **kwargs: Any) -> Any:
    return ladder_sweep(
        tenant=tenant, sweep_id=f"test-sweep-{next(_sweeps)}", now=clock.now, **kwargs
    )


def refreshed(account: LedgerAccount) -> LedgerAccount:
    return LedgerAccount.objects.get(pk=account.pk)


def conserved(tenant: Any, currency: str) -> bool:
    """Debits equal credits over the tenant's whole book."""
    balance = trial_balance(tenant=tenant, currency=currency)
    return balance.total_debits == balance.total_credits
