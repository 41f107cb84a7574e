"""Interest arithmetic: day-count conventions and accrual periods. Plain Python, no Django.

Interest accrues for every calendar day (ACT), recorded once per business day of the tenant's
calendar: the accrual made on business day D covers the days from where the previous one ended
up to the next business day, so a Friday's covers the weekend and the last business day
before a holiday covers the holiday. A period never crosses the first of a month (so a
monthly charge takes whole months) nor the contract's maturity.

Amounts are exact ``Decimal`` (principal x rate x days / basis, unrounded); a charge rounds the
sum of its accruals once, to the currency's minor unit, half to even (``ROUND_HALF_EVEN``,
banker's rounding, so rounding does not drift in either party's favour over many charges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

# Day-count conventions of each currency's money market. Source: the Association of Corporate
# Treasurers' wiki, "ACT/360" (USD, EUR, JPY, CHF, DKK, NOK, SEK and CNY use ACT/360) and
# "ACT/365" (GBP, HKD, SGD, INR, PLN, ZAR use ACT/365), citing the UK Money Markets Code:
# https://wiki.treasurers.org/wiki/ACT/360 and https://wiki.treasurers.org/wiki/ACT/365.
# ACT/365 here is ACT/365 Fixed (365 in leap years too), as SONIA and HONIA are quoted.
DAY_COUNT_BASIS: dict[str, int] = {"ACT/360": 360, "ACT/365": 365}
DAY_COUNT_BY_CURRENCY: dict[str, str] = {
    "USD": "ACT/360",
    "EUR": "ACT/360",
    "JPY": "ACT/360",
    "CHF": "ACT/360",
    "CNY": "ACT/360",
    "GBP": "ACT/365",
    "HKD": "ACT/365",
    "SGD": "ACT/365",
}
ACCRUAL_PLACES = Decimal("1e-10")


def day_count_for(currency: str) -> str:
    """The currency's convention; one not in the table is refused rather than guessed."""
    try:
        return DAY_COUNT_BY_CURRENCY[currency]
    except KeyError:
        raise ValueError(f"No day-count convention is set for {currency}.") from None


def interest_for(*, principal: Decimal, rate: Decimal, days: int, day_count: str) -> Decimal:
    """principal x annual rate x days / basis, exact to 10 places (no rounding to cents)."""
    with localcontext() as context:
        context.prec = 50
        value = principal * rate * Decimal(days) / Decimal(DAY_COUNT_BASIS[day_count])
        return value.quantize(ACCRUAL_PLACES, rounding=ROUND_HALF_EVEN)


def money_round(value: Decimal, quantum: Decimal) -> Decimal:
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN)


def next_business_day(day: date, is_open: Callable[[date], bool]) -> date:
    current = day + timedelta(days=1)
    while not is_open(current):
        current += timedelta(days=1)
    return current


def first_of_next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@dataclass(frozen=True)
class AccrualPeriod:
    start: date
    end: date  # exclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def accrual_period(
    *,
    business_date: date,
    accrued_until: date,
    maturity: date,
    is_open: Callable[[date], bool],
) -> AccrualPeriod | None:
    """The days an accrual on ``business_date`` covers, or None if there is nothing to accrue.

    ``accrued_until`` is where the previous accrual ended (the contract's start at first).
    The period runs to the next business day, but stops at the first of the next month and at
    maturity; the days after a month boundary are picked up by the next business day's run.
    """
    if business_date < accrued_until or accrued_until >= maturity:
        return None
    end = next_business_day(business_date, is_open)
    boundary = first_of_next_month(accrued_until)
    end = min(end, boundary, maturity)
    if end <= accrued_until:
        return None
    return AccrualPeriod(accrued_until, end)
