"""Orders: the pre-trade check (margin, gates, suitability), the fill and its settlement.

acme.client has 10,000 USD of client money; XYZ is quoted at 49.90 / 50.00 / 50.10 (the
oracle's median is 50.00).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from ledger.models import JournalEntry, LedgerAccount
from platform_core.api.models import IdempotencyRecord
from risk.hooks import PreTradeGate, pretrade_gates
from risk.models import Order, Position
from risk.orders import fill_price, product_level
from tests.conftest import TenantPeople, api_token_for, as_tenant
from tests.ledger.factories import Book, open_book
from tests.risk.factories import equity, option, quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def unassessed_clients_may_trade(settings: Any) -> None:
    """KYC's suitability is tested on its own; most tests here are about margin and money."""
    settings.RISK_SUITABILITY_REQUIRED = False


@pytest.fixture
def book(acme: TenantPeople) -> Book:
    book = open_book(acme)
    book.fund("10000.00")
    xyz = equity("XYZ")
    quote(xyz, "49.90", "50.00", "50.10")
    return book


class Api:
    def __init__(self, person: Any) -> None:
        self.client = Client()
        self.auth = {"HTTP_AUTHORIZATION": f"Token {api_token_for(Client(), person)}"}

    def order(self, body: dict[str, Any], key: str = "order-1") -> Any:
        return self.client.post(
            "/api/v1/risk/orders",
            body,
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
            **self.auth,
        )


def state(acme: TenantPeople, book: Book) -> tuple[Any, ...]:
    """Everything an order could change, as Acme sees it."""
    with as_tenant(acme.tenant):
        return (
            LedgerAccount.objects.get(pk=book.client.pk).balance,
            LedgerAccount.objects.get(pk=book.bank.pk).balance,
            JournalEntry.objects.count(),
            Order.objects.count(),
            sorted(Position.objects.values_list("instrument__symbol", "quantity")),
        )


@pytest.mark.usefixtures("unassessed_clients_may_trade")
def test_a_buy_fills_at_the_oracle_price_plus_spread_and_settles_in_the_ledger(
    acme: TenantPeople, book: Book
) -> None:
    response = Api(acme.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "100"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    # 50.00 x (1 + 0.0005 half spread + 0.0001 x 5,000 / 100,000 slippage) = 50.02525;
    # 100 shares cost 5,002.525, rounded against the client to 5,002.53.
    assert body["oracle_price"] == "50.00000000"
    assert body["fill_price"] == "50.02525000"
    assert body["cash"] == "-5002.53"
    client_balance, bank_balance, _, orders, positions = state(acme, book)
    assert client_balance == Decimal("4997.47") and orders == 1
    # Money is conserved: client money still equals what the client-money bank holds.
    assert bank_balance == client_balance
    assert positions == [("XYZ", Decimal("100"))]
    with as_tenant(acme.tenant):
        entry = JournalEntry.objects.get(pk=body["journal_entry"])
        legs = sorted((p.account_id, p.side, p.amount) for p in entry.postings.all())
    assert legs == sorted(
        [
            (book.client.pk, "debit", Decimal("5002.53")),
            (book.bank.pk, "credit", Decimal("5002.53")),
        ]
    )


@pytest.mark.usefixtures("unassessed_clients_may_trade")
def test_a_sale_brings_in_the_price_less_the_spread(acme: TenantPeople, book: Book) -> None:
    api = Api(acme.client)
    assert (
        api.order({"account": book.client.pk, "symbol": "XYZ", "quantity": "100"}).status_code
        == 201
    )
    sold = api.order({"account": book.client.pk, "symbol": "XYZ", "quantity": "-40"}, key="sell")
    assert sold.status_code == 201, sold.content
    # 50.00 x (1 - 0.0005 - 0.0001 x 2,000 / 100,000) = 49.9748; 40 x = 1,998.992 -> 1,998.99.
    assert sold.json()["cash"] == "1998.99"
    client_balance, bank_balance, _, orders, positions = state(acme, book)
    assert client_balance == Decimal("10000.00") - Decimal("5002.53") + Decimal("1998.99")
    assert bank_balance == client_balance
    assert orders == 2 and positions == [("XYZ", Decimal("60"))]


@pytest.mark.usefixtures("unassessed_clients_may_trade")
def test_a_replay_returns_the_first_fill_and_writes_nothing(acme: TenantPeople, book: Book) -> None:
    api = Api(acme.client)
    first = api.order({"account": book.client.pk, "symbol": "XYZ", "quantity": "10"})
    before = state(acme, book)
    again = api.order({"account": book.client.pk, "symbol": "XYZ", "quantity": "10"})
    assert again.status_code == 201 and again.json() == first.json()
    assert state(acme, book) == before
    conflict = api.order({"account": book.client.pk, "symbol": "XYZ", "quantity": "11"})
    assert conflict.status_code == 409
    assert state(acme, book) == before


@pytest.mark.usefixtures("unassessed_clients_may_trade")
def test_an_order_beyond_the_margin_is_refused_and_changes_nothing(
    acme: TenantPeople, book: Book
) -> None:
    before = state(acme, book)
    # 1,000 XYZ = 50,000: Reg T's 50% (25,000) is more than the 10,000 of equity.
    response = Api(acme.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "1000"}
    )
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "pretrade_refused"
    assert "Not enough margin" in response.json()["message"]
    assert state(acme, book) == before


@pytest.mark.usefixtures("unassessed_clients_may_trade")
def test_a_registered_gate_refuses_an_order(acme: TenantPeople, book: Book) -> None:
    seen: list[dict[str, Any]] = []

    def no_xyz(*, tenant, account, membership, orders, result_after) -> str | None:
        seen.append({"account": account.pk, "membership": membership.pk, "cash": result_after.cash})
        return (
            "XYZ is closed to new buyers today" if any(i.symbol == "XYZ" for i in orders) else None
        )

    before = state(acme, book)
    pretrade_gates.register(PreTradeGate(key="test.no_xyz", check=no_xyz))
    try:
        response = Api(acme.client).order(
            {"account": book.client.pk, "symbol": "XYZ", "quantity": "10"}
        )
    finally:
        pretrade_gates.unregister("test.no_xyz")
    assert response.status_code == 422, response.content
    assert response.json()["message"] == "XYZ is closed to new buyers today"
    assert state(acme, book) == before
    # The gate saw the what-if: the cash after the order at the oracle's price.
    assert seen == [
        {
            "account": book.client.pk,
            "membership": acme.client.membership.pk,
            "cash": Decimal("9500.00"),
        }
    ]
    # The refusal is stored with the key: a replay answers the same without asking again.
    with as_tenant(acme.tenant):
        assert IdempotencyRecord.objects.get(key="order-1").status_code == 422


def test_a_client_without_an_approved_suitability_may_not_trade(
    acme: TenantPeople, book: Book
) -> None:
    before = state(acme, book)
    response = Api(acme.client).order({"account": book.client.pk, "symbol": "XYZ", "quantity": "1"})
    assert response.status_code == 422
    assert "suitability" in response.json()["message"]
    assert state(acme, book) == before


def test_options_are_at_least_r4_products(acme: TenantPeople) -> None:
    xyz = equity("XYZ")
    assert product_level(xyz) == 1
    assert product_level(option(xyz)) == 4
    risky = equity("RSK", risk_tier=5)
    assert product_level(option(risky)) == 5


def test_the_fill_moves_against_the_client_and_grows_with_size(acme: TenantPeople) -> None:
    xyz = equity("XYZ")
    small_buy = fill_price(instrument=xyz, quantity=Decimal(1), price=Decimal(50))
    big_buy = fill_price(instrument=xyz, quantity=Decimal(1000000), price=Decimal(50))
    sell = fill_price(instrument=xyz, quantity=Decimal(-1), price=Decimal(50))
    assert sell < Decimal(50) < small_buy < big_buy
    # Slippage is capped at 1%: 50 x (1 + 0.0005 + 0.01).
    assert big_buy == Decimal("50.52500000")


@pytest.mark.usefixtures("unassessed_clients_may_trade")
def test_staff_may_not_place_orders_and_other_tenants_get_a_404(
    acme: TenantPeople, globex: TenantPeople, book: Book
) -> None:
    before = state(acme, book)
    staff = Api(acme.operations).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "1"}
    )
    assert staff.status_code == 403
    foreign = Api(globex.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "1"}
    )
    missing = Api(globex.client).order(
        {"account": 999999999, "symbol": "XYZ", "quantity": "1"}, key="other"
    )
    assert foreign.status_code == missing.status_code == 404
    assert state(acme, book) == before


@pytest.mark.usefixtures("unassessed_clients_may_trade")
def test_bad_orders_are_400_with_field_errors(acme: TenantPeople, book: Book) -> None:
    api = Api(acme.client)
    unknown = api.order({"account": book.client.pk, "symbol": "NOPE", "quantity": "1"}, key="a")
    zero = api.order({"account": book.client.pk, "symbol": "XYZ", "quantity": "0"}, key="b")
    words = api.order({"account": book.client.pk, "symbol": "XYZ", "quantity": "lots"}, key="c")
    assert unknown.status_code == zero.status_code == words.status_code == 400
    assert "symbol" in unknown.json()["fields"]
    assert "quantity" in zero.json()["fields"]
    assert "quantity" in words.json()["fields"]
