"""The trading calendar per market: weekends and the holiday table (``TradingHoliday``).

Markets are ISO 10383 MICs: ``XSHG`` (Shanghai), ``XSHE`` (Shenzhen), ``XNYS`` (New York).
The holidays are seeded for 2025-2027 from the exchanges' published calendars
(``risk/calendar_data.py`` names the sources); outside the table only weekends are closed.
Financing (interest days, maturities) and the margin-call ladder (a call's deadline in
business days) count days here.
"""

from __future__ import annotations

from datetime import date, timedelta

from platform_core.tenancy.models import Tenant
from risk.models import RiskSettings, TradingHoliday

MARKETS = ("XSHG", "XSHE", "XNYS")
# The market a tenant trades on when it has not said: by its timezone.
MARKET_BY_TIMEZONE = {
    "Asia/Shanghai": "XSHG",
    "Asia/Chongqing": "XSHG",
    "Asia/Harbin": "XSHG",
    "PRC": "XSHG",
    "America/New_York": "XNYS",
    "US/Eastern": "XNYS",
}
DEFAULT_MARKET = "XNYS"


class UnknownMarket(ValueError):
    def __init__(self, market: str) -> None:
        super().__init__(f"market: unknown {market!r}; choose one of {', '.join(MARKETS)}")
        self.market = market


def _market(market: str) -> str:
    if market not in MARKETS:
        raise UnknownMarket(market)
    return market


def holidays_of(*, market: str, start: date, end: date) -> frozenset[date]:
    """The market's holidays in [start, end]."""
    rows = TradingHoliday.objects.filter(market=_market(market), day__range=(start, end))
    return frozenset(rows.values_list("day", flat=True))


def business_day_is(*, market: str, day: date) -> bool:
    """Whether ``market`` trades on ``day`` (not a weekend, not one of its holidays)."""
    if day.weekday() >= 5:
        _market(market)
        return False
    return day not in holidays_of(market=market, start=day, end=day)


def business_days_add(*, market: str, day: date, days: int) -> date:
    """The business day ``days`` business days after ``day`` (before it if negative).

    ``days=0`` is ``day`` itself if it is a business day, else the next one.
    """
    step = 1 if days >= 0 else -1
    # Generous window for the holidays query: at most ~2 weeks of closure per business day.
    span = timedelta(days=abs(days) * 2 + 21)
    closed = holidays_of(
        market=market, start=min(day, day + step * span), end=max(day, day + step * span)
    )

    def is_open(d: date) -> bool:
        return d.weekday() < 5 and d not in closed

    current = day
    if days == 0:
        while not is_open(current):
            current += timedelta(days=1)
        return current
    remaining = abs(days)
    while remaining:
        current += timedelta(days=step)
        if is_open(current):
            remaining -= 1
    return current


def business_days_between(*, market: str, start: date, end: date) -> int:
    """Business days in (start, end]: how many trading days pass from ``start`` to ``end``
    (negative if ``end`` is before ``start``; 0 for the same day)."""
    if end < start:
        return -business_days_between(market=market, start=end, end=start)
    closed = holidays_of(market=market, start=start, end=end)
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in closed:
            count += 1
    return count


def tenant_market(*, tenant: Tenant) -> str:
    """The market the tenant's calendar follows: its risk setting, else by its timezone."""
    market = RiskSettings.objects.filter(tenant=tenant).values_list("market", flat=True).first()
    if market:
        return market
    return MARKET_BY_TIMEZONE.get(tenant.timezone, DEFAULT_MARKET)
