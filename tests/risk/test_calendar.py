"""The trading calendar: business days across weekends and the seeded exchange holidays."""

from __future__ import annotations

from datetime import date

import pytest

from platform_core.tenancy.services import tenant_create
from risk.calendar import (
    UnknownMarket,
    business_day_is,
    business_days_add,
    business_days_between,
    tenant_market,
)
from risk.models import RiskSettings, TradingHoliday
from tests.conftest import TenantPeople, as_tenant

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("market", "day", "open_"),
    [
        # NYSE: Thanksgiving 2026, closed for President Carter's day of mourning (9 Jan 2025),
        # Juneteenth 2027 observed on Friday the 18th; an ordinary Wednesday is open.
        ("XNYS", date(2026, 11, 26), False),
        ("XNYS", date(2025, 1, 9), False),
        ("XNYS", date(2027, 6, 18), False),
        ("XNYS", date(2026, 11, 25), True),
        # Shanghai and Shenzhen: Spring Festival 2026 (16-20 and 23 February), National Day.
        ("XSHG", date(2026, 2, 16), False),
        ("XSHE", date(2026, 2, 23), False),
        ("XSHG", date(2026, 10, 7), False),
        ("XSHG", date(2026, 2, 24), True),
        # Shanghai trades on 26 November 2026 (Thanksgiving is New York's), not on a Saturday.
        ("XSHG", date(2026, 11, 26), True),
        ("XSHG", date(2026, 11, 28), False),
    ],
)
def test_business_day_is(market: str, day: date, open_: bool) -> None:
    assert business_day_is(market=market, day=day) is open_


def test_adding_business_days_skips_weekends_and_holidays() -> None:
    # From Friday 13 Feb 2026 in Shanghai: the Spring Festival closes 16-20 and 23 February.
    assert business_days_add(market="XSHG", day=date(2026, 2, 13), days=1) == date(2026, 2, 24)
    assert business_days_add(market="XSHG", day=date(2026, 2, 13), days=2) == date(2026, 2, 25)
    # New York across Thanksgiving (26 Nov 2026): Wednesday + 1 is Friday.
    assert business_days_add(market="XNYS", day=date(2026, 11, 25), days=1) == date(2026, 11, 27)
    # Backwards, and zero days (the same day if open, else the next open one).
    assert business_days_add(market="XSHG", day=date(2026, 2, 24), days=-1) == date(2026, 2, 13)
    assert business_days_add(market="XNYS", day=date(2026, 11, 26), days=0) == date(2026, 11, 27)
    assert business_days_add(market="XNYS", day=date(2026, 11, 25), days=0) == date(2026, 11, 25)


def test_business_days_between_counts_trading_days() -> None:
    # 13 Feb 2026 (Fri) to 27 Feb (Fri) in Shanghai: 24, 25, 26, 27 Feb only.
    assert business_days_between(market="XSHG", start=date(2026, 2, 13), end=date(2026, 2, 27)) == 4
    # The same fortnight in New York loses only Presidents' Day (16 Feb).
    assert business_days_between(market="XNYS", start=date(2026, 2, 13), end=date(2026, 2, 27)) == 9
    assert (
        business_days_between(market="XNYS", start=date(2026, 2, 27), end=date(2026, 2, 13)) == -9
    )
    assert business_days_between(market="XNYS", start=date(2026, 2, 13), end=date(2026, 2, 13)) == 0


def test_a_holiday_added_to_the_table_counts() -> None:
    day = date(2027, 3, 3)
    assert business_day_is(market="XNYS", day=day)
    TradingHoliday.objects.create(market="XNYS", day=day, name="unscheduled closure")
    assert not business_day_is(market="XNYS", day=day)


def test_the_seed_covers_three_years_of_each_market() -> None:
    for market in ("XNYS", "XSHG", "XSHE"):
        years = set(
            TradingHoliday.objects.filter(market=market).values_list("day__year", flat=True)
        )
        assert years == {2025, 2026, 2027}, market


def test_an_unknown_market_is_refused() -> None:
    with pytest.raises(UnknownMarket, match="market: unknown 'XXXX'"):
        business_day_is(market="XXXX", day=date(2026, 11, 28))
    with pytest.raises(UnknownMarket):
        business_days_add(market="XXXX", day=date(2026, 11, 25), days=1)


def test_the_tenant_market_follows_its_setting_or_timezone(acme: TenantPeople) -> None:
    assert tenant_market(tenant=acme.tenant) == "XSHG"  # Asia/Shanghai
    ny = tenant_create(slug="hudson", name="Hudson", timezone="America/New_York", currency="USD")
    with as_tenant(ny):
        assert tenant_market(tenant=ny) == "XNYS"
        RiskSettings.objects.create(tenant=ny, market="XSHE")
        assert tenant_market(tenant=ny) == "XSHE"
