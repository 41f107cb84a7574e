"""Interest arithmetic without the database: day counts, periods over a month end and a
holiday, rounding to the cent."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from financing.interest import (
    DAY_COUNT_BY_CURRENCY,
    accrual_period,
    day_count_for,
    interest_for,
    money_round,
)

CENT = Decimal("0.01")
# Shanghai's National Day closure of 2026 (State Council notice, as risk's calendar seeds it).
CLOSED = {date(2026, 10, d) for d in (1, 2, 5, 6, 7)}


def shanghai_open(day: date) -> bool:
    return day.weekday() < 5 and day not in CLOSED


def periods(start: date, last_run: date, maturity: date) -> list[tuple[date, date, int]]:
    """What a day close running on every business day from ``start`` to ``last_run`` accrues."""
    covered, out, day = start, [], start
    while day <= last_run:
        if shanghai_open(day):
            period = accrual_period(
                business_date=day, accrued_until=covered, maturity=maturity, is_open=shanghai_open
            )
            if period:
                out.append((day, period.end, period.days))
                covered = period.end
        day += timedelta(days=1)
    return out


def test_the_conventions_follow_the_currency() -> None:
    assert day_count_for("USD") == "ACT/360" and day_count_for("EUR") == "ACT/360"
    assert day_count_for("GBP") == "ACT/365" and day_count_for("HKD") == "ACT/365"
    with pytest.raises(ValueError):
        day_count_for("XYZ")
    assert set(DAY_COUNT_BY_CURRENCY.values()) == {"ACT/360", "ACT/365"}


def test_a_month_end_and_the_national_day_holiday_are_each_counted_once() -> None:
    runs = periods(date(2026, 9, 28), date(2026, 10, 9), maturity=date(2026, 10, 28))
    # Tuesday 30 September stops at the month's end; 1-7 October (closed) are picked up by
    # Thursday 8 October, Friday 9th covers the weekend.
    assert runs == [
        (date(2026, 9, 28), date(2026, 9, 29), 1),
        (date(2026, 9, 29), date(2026, 9, 30), 1),
        (date(2026, 9, 30), date(2026, 10, 1), 1),
        (date(2026, 10, 8), date(2026, 10, 9), 8),
        (date(2026, 10, 9), date(2026, 10, 12), 3),
    ]
    assert sum(days for *_, days in runs) == (date(2026, 10, 12) - date(2026, 9, 28)).days


def test_the_last_period_stops_at_maturity() -> None:
    runs = periods(date(2026, 10, 26), date(2026, 10, 30), maturity=date(2026, 10, 28))
    assert runs[-1][1] == date(2026, 10, 28)
    assert sum(days for *_, days in runs) == 2


@pytest.mark.parametrize(
    ("currency", "days", "expected"),
    [
        # 100,000 at 7.7 % a year: September's three days, then the fourteen to 12 October.
        ("USD", 3, Decimal("64.17")),  # 100000 * 0.077 * 3 / 360 = 64.1666...
        ("HKD", 3, Decimal("63.29")),  # 100000 * 0.077 * 3 / 365 = 63.2876...
        ("USD", 14, Decimal("299.44")),  # 299.444...
        ("GBP", 14, Decimal("295.34")),  # 295.3424...
    ],
)
def test_interest_to_the_cent_in_both_conventions(
    currency: str, days: int, expected: Decimal
) -> None:
    exact = interest_for(
        principal=Decimal("100000.00"),
        rate=Decimal("0.077"),
        days=days,
        day_count=day_count_for(currency),
    )
    assert money_round(exact, CENT) == expected


def test_daily_accruals_are_summed_unrounded_then_rounded_once() -> None:
    # 1,000 at 6.57 % for one day on ACT/360 is 0.1825: half to even gives 0.18 (half up 0.19).
    one_day = interest_for(
        principal=Decimal("1000"), rate=Decimal("0.0657"), days=1, day_count="ACT/360"
    )
    assert one_day == Decimal("0.1825000000")
    assert money_round(one_day, CENT) == Decimal("0.18")
    # Three such days: 0.5475 -> 0.55 (rounding each day first would give 0.54).
    assert money_round(one_day * 3, CENT) == Decimal("0.55")
