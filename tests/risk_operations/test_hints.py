"""Hedge hints with a call: the deposit, groups to close, a protective put and a collar from
the listed options, each with the ratio the engine gives the account after it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from risk.operations.hints import hints_for_account
from risk.operations.ladder import ratio_of
from risk.selectors import margin_what_if
from tests.conftest import TenantPeople
from tests.ledger.factories import open_book
from tests.risk.factories import equity, hold, option
from tests.risk_operations.helpers import Clock, prices, refreshed

pytestmark = pytest.mark.django_db


def test_hints_offer_a_deposit_closings_a_protective_put_and_a_collar(acme: TenantPeople) -> None:
    xyz, def_ = equity("XYZ"), equity("DEF")
    expiry = timezone.localdate() + timedelta(days=45)
    put = option(xyz, right="put", strike="45", expiry=expiry)
    call = option(xyz, right="call", strike="55", expiry=expiry)
    book = open_book(acme)
    book.fund("20000.00")
    hold(book.client, xyz, "300")
    hold(book.client, def_, "-1000")
    clock = Clock()
    prices(clock, XYZ="50", DEF="30", **{put.symbol: "1.10", call.symbol: "1.30"})

    account = refreshed(book.client)
    hints = hints_for_account(
        tenant=acme.tenant, account=account, target=Decimal("1.25"), now=clock.now
    )
    # Equity 20,000 + 15,000 - 30,000 = 5,000; maintenance 3,750 + 9,000 = 12,750.
    assert hints["deposit"] == "10937.50"  # 1.25 x 12,750 - 5,000
    assert [r["strategy"] for r in hints["reduce"]] == ["short_stock", "long_stock"]
    kinds = {h["kind"]: h for h in hints["hedges"]}
    assert set(kinds) == {"protective_put", "collar"}
    assert kinds["protective_put"]["orders"] == [{"symbol": put.symbol, "quantity": "3"}]
    assert kinds["collar"]["orders"] == [
        {"symbol": put.symbol, "quantity": "3"},
        {"symbol": call.symbol, "quantity": "-3"},
    ]
    # Each effect is the engine's on the account with the orders filled at the same prices.
    for name, orders in (
        ("protective_put", {put: Decimal(3)}),
        ("collar", {put: Decimal(3), call: Decimal(-3)}),
    ):
        result = margin_what_if(tenant=acme.tenant, account=account, orders=orders, now=clock.now)
        expected = ratio_of(result.equity, result.maintenance_requirement)
        assert kinds[name]["ratio_after"] == str(expected)
    # Closing the short stock first leaves only the long stock: the ratio is restored.
    assert Decimal(hints["reduce"][0]["ratio_after"]) > Decimal("1.25")
