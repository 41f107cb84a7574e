"""Loans reach the engine; a margin purchase is lent its shortfall; ``order_fill`` on its own.

acme.client has 10,000 USD of client money; XYZ is quoted at 49.90 / 50.00 / 50.10 (the
oracle's median is 50.00). The loan sources and the lender here are test doubles registered
with ``risk.hooks`` (financing registers the real ones): the contract defines
equity = cash - loan + long market value - short market value
(shared/contracts/margin-cli.md, "Definitions").
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from ledger.models import JournalEntry, LedgerAccount
from ledger.rules import Side
from ledger.services import Leg, account_create, entry_post
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.roles import Role
from risk.hooks import (
    LoanSource,
    PurchaseFunding,
    loan_sources,
    pretrade_gates,
    purchase_funding,
)
from risk.models import Instrument, MarginStatus, Order, Position
from risk.orders import order_fill
from risk.selectors import loans_of, margin_status, margin_what_if
from risk.stress import account_stress
from risk.sweep import margin_sweep
from tests.conftest import TenantPeople, as_tenant, make_person
from tests.ledger.factories import Book, open_book, refreshed
from tests.risk.factories import equity, hold, quote
from tests.risk.test_orders import Api, state

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def unassessed_clients_may_trade(settings: Any) -> None:
    settings.RISK_SUITABILITY_REQUIRED = False


@pytest.fixture(autouse=True)
def apps_hooks_set_aside() -> Iterator[None]:
    """The apps' own loan sources, lenders and gates (financing's "credit line active") are
    set aside meanwhile: these tests are about how risk uses whatever is registered."""
    registries = (loan_sources, purchase_funding, pretrade_gates)
    saved = [[registry.get(key) for key in registry.keys()] for registry in registries]
    for registry in registries:
        for key in registry.keys():
            registry.unregister(key)
    yield
    for registry, entries in zip(registries, saved, strict=True):
        for key in registry.keys():
            registry.unregister(key)
        for entry in entries:
            registry.register(entry)


@pytest.fixture
def book(acme: TenantPeople) -> Book:
    book = open_book(acme)
    book.fund("10000.00")
    quote(equity("XYZ"), "49.90", "50.00", "50.10")
    return book


def xyz() -> Instrument:
    return Instrument.objects.get(symbol="XYZ")


class Loans:
    """A loan source whose amounts the test sets; it records the batches it was asked for."""

    def __init__(self) -> None:
        self.owed: dict[int, Decimal] = {}
        self.asked: list[list[int]] = []

    def loans(self, *, tenant: Any, accounts: Any) -> dict[int, Decimal]:
        self.asked.append([a.pk for a in accounts])
        return {a.pk: self.owed[a.pk] for a in accounts if a.pk in self.owed}


@pytest.fixture
def loans() -> Iterator[Loans]:
    source = Loans()
    loan_sources.register(LoanSource(key="test.loans", loans=source.loans))
    yield source
    loan_sources.unregister("test.loans")


class Lender:
    """Lends a purchase's shortfall the way financing's drawdown does: one loan_drawdown entry
    (the house's loan to the client's cash, the pool's money into the client-money bank)."""

    def __init__(self, acme: TenantPeople, refuse: str | None = None) -> None:
        tenant = acme.tenant
        self.loan = account_create(tenant=tenant, kind="loan_receivable", currency="USD")
        self.pool = account_create(tenant=tenant, kind="funding_pool", currency="USD")
        self.refuse = refuse
        self.calls: list[dict[str, Any]] = []

    def fund(self, *, tenant, account, membership, actor, amount, idempotency_key, order_key):
        self.calls.append(
            {"amount": amount, "key": idempotency_key, "order": order_key, "member": membership}
        )
        if self.refuse:
            raise ApplicationError(422, "credit_limit", self.refuse)
        bank = LedgerAccount.objects.get(tenant=tenant, kind="custodian_bank", currency="USD")
        return entry_post(
            tenant=tenant,
            entry_type="loan_drawdown",
            legs=[
                Leg(self.loan.pk, Side.DEBIT, amount),
                Leg(account.pk, Side.CREDIT, amount),
                Leg(bank.pk, Side.DEBIT, amount),
                Leg(self.pool.pk, Side.CREDIT, amount),
            ],
            idempotency_key=idempotency_key,
            memo="test drawdown",
            actor=actor,
        )


def lender_registered(lender: Lender) -> Any:
    purchase_funding.register(PurchaseFunding(key="test.lender", fund=lender.fund))
    return lender


@pytest.fixture
def lender(acme: TenantPeople, book: Book) -> Iterator[Lender]:
    yield lender_registered(Lender(acme))
    purchase_funding.unregister("test.lender")


@pytest.fixture
def refusing_lender(acme: TenantPeople, book: Book) -> Iterator[Lender]:
    yield lender_registered(Lender(acme, refuse="Your credit line has no limit left."))
    purchase_funding.unregister("test.lender")


# --- loans in the engine ---------------------------------------------------------------------


def test_equity_falls_by_the_loan_of_every_source(
    acme: TenantPeople, book: Book, loans: Loans
) -> None:
    hold(book.client, xyz(), "100")
    with as_tenant(acme.tenant):
        free = margin_status(tenant=acme.tenant, account=refreshed(book.client))
        loans.owed[book.client.pk] = Decimal("4000.00")
        second = LoanSource(key="test.more", loans=lambda **_: {book.client.pk: Decimal("250")})
        loan_sources.register(second)
        try:
            owed = margin_status(tenant=acme.tenant, account=refreshed(book.client))
        finally:
            loan_sources.unregister("test.more")
    # 10,000 cash + 100 x 50 = 15,000; owing 4,250: 10,750.
    assert free.equity == Decimal("15000.00")
    assert owed.loan == Decimal("4250.00")
    assert owed.equity == Decimal("10750.00")
    # 维持担保比例 = (cash + long value) / loan = 15,000 / 4,250.
    assert owed.collateral_ratio == Decimal("3.5294")
    assert free.collateral_ratio is None


def test_the_what_if_and_the_stress_table_see_the_loan(
    acme: TenantPeople, book: Book, loans: Loans
) -> None:
    loans.owed[book.client.pk] = Decimal("3000")
    with as_tenant(acme.tenant):
        after = margin_what_if(
            tenant=acme.tenant, account=refreshed(book.client), orders={xyz(): Decimal(10)}
        )
        rows = account_stress(tenant=acme.tenant, account=refreshed(book.client))
    # The purchase at the oracle's price changes cash for stock: 10,000 - 3,000.
    assert after.equity == Decimal("7000.00")
    assert all(Decimal(row.as_json()["equity_after"]) == Decimal("7000.00") for row in rows)


def test_a_loan_that_is_not_a_decimal_is_refused(acme: TenantPeople, book: Book) -> None:
    loan_sources.register(LoanSource(key="test.float", loans=lambda **_: {book.client.pk: 0.1}))
    try:
        with pytest.raises(TypeError, match="Decimal"):
            loans_of(tenant=acme.tenant, accounts=[book.client])
    finally:
        loan_sources.unregister("test.float")


def test_the_sweep_asks_each_source_once_for_the_whole_book(
    acme: TenantPeople, book: Book, loans: Loans
) -> None:
    person = make_person(acme.tenant, "short-seller@acme.example", Role.CLIENT)
    other = account_create(
        tenant=acme.tenant, kind="client_cash", currency="USD", owner_id=person.membership.pk
    )
    book.fund("1000.00", other)
    hold(book.client, xyz(), "100")
    hold(other, xyz(), "-10")
    loans.owed[book.client.pk] = Decimal("12000")
    with as_tenant(acme.tenant):
        margin_sweep(tenant=acme.tenant)
        statuses = {s.account_id: s for s in MarginStatus.objects.all()}
    assert loans.asked == [sorted([book.client.pk, other.pk])]
    # 10,000 + 5,000 - 12,000 = 3,000 against 25% of 5,000 = 1,250 maintenance.
    assert statuses[book.client.pk].equity == Decimal("3000.0000")
    assert statuses[book.client.pk].ratio == Decimal("2.4000")
    assert statuses[other.pk].equity == Decimal("500.0000")


# --- a margin purchase -----------------------------------------------------------------------


def test_a_margin_purchase_settles_with_the_drawdown(
    acme: TenantPeople, book: Book, lender: Lender, loans: Loans
) -> None:
    response = Api(acme.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "300"}, key="margin-buy"
    )
    assert response.status_code == 201, response.content
    # 50.00 x (1 + 0.0005 + 0.0001 x 15,000 / 100,000) = 50.02575; 300 cost 15,007.725, rounded
    # against the client to 15,007.73, of which the client's 10,000 is free: 5,007.73 is lent.
    assert response.json()["cash"] == "-15007.73"
    assert lender.calls == [
        {
            "amount": Decimal("5007.73"),
            "key": "risk.order:margin-buy:funding",
            "order": "margin-buy",
            "member": acme.client.membership,
        }
    ]
    client_balance, bank_balance, _, orders, positions = state(acme, book)
    assert client_balance == Decimal("0.00") and bank_balance == client_balance
    assert orders == 1 and positions == [("XYZ", Decimal("300"))]
    with as_tenant(acme.tenant):
        assert LedgerAccount.objects.get(pk=lender.loan.pk).balance == Decimal("5007.73")
        loans.owed[book.client.pk] = Decimal("5007.73")
        after = margin_status(tenant=acme.tenant, account=refreshed(book.client))
    # Equity 0 + 15,000 - 5,007.73: the client's own 10,000 less the spread they paid.
    assert after.equity == Decimal("9992.27")
    replay = Api(acme.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "300"}, key="margin-buy"
    )
    assert replay.json() == response.json() and len(lender.calls) == 1


def test_a_refused_funding_writes_nothing(
    acme: TenantPeople, book: Book, refusing_lender: Lender
) -> None:
    before = state(acme, book)
    response = Api(acme.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "300"}
    )
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "credit_limit"
    assert len(refusing_lender.calls) == 1
    assert state(acme, book) == before


def test_a_purchase_the_cash_covers_asks_no_lender(
    acme: TenantPeople, book: Book, lender: Lender
) -> None:
    response = Api(acme.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "100"}
    )
    assert response.status_code == 201 and lender.calls == []


def test_without_a_lender_a_margin_purchase_is_refused_for_funds(
    acme: TenantPeople, book: Book
) -> None:
    before = state(acme, book)
    response = Api(acme.client).order(
        {"account": book.client.pk, "symbol": "XYZ", "quantity": "300"}
    )
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "insufficient_funds"
    assert state(acme, book) == before


# --- order_fill, as the liquidation calls it --------------------------------------------------


def test_order_fill_at_market_under_the_liquidation_entry_type_is_idempotent(
    acme: TenantPeople, book: Book
) -> None:
    stock = xyz()
    hold(book.client, stock, "100")
    with as_tenant(acme.tenant):
        fill = dict(
            tenant=acme.tenant,
            account=book.client,
            instrument=stock,
            quantity=Decimal("-100"),
            actor=None,
            idempotency_key="liquidation:7:0",
            entry_type="liquidation",
            memo_prefix="liquidation 7",
            at_market=True,
        )
        first = order_fill(**fill)
        again = order_fill(**fill)
        entry = JournalEntry.objects.get(pk=first.journal_entry_id)
        orders = Order.objects.count()
        position = Position.objects.get(account=book.client, instrument=stock).quantity
    assert again.pk == first.pk and orders == 1
    assert first.fill_price == Decimal("50") and first.cash == Decimal("5000.00")
    assert entry.entry_type == "liquidation"
    assert entry.memo == "liquidation 7: sell 100 XYZ at 50.00000000"
    assert position == 0
    client_balance, bank_balance, *_ = state(acme, book)
    assert client_balance == bank_balance == Decimal("15000.00")


def no_credit(amount: Decimal) -> None:
    raise ApplicationError(422, "credit_limit", f"cannot lend {amount}")


def test_order_fill_refused_writes_nothing(acme: TenantPeople, book: Book) -> None:
    unquoted = equity("NOQ")
    before = state(acme, book)
    with as_tenant(acme.tenant), pytest.raises(ApplicationError) as refused:
        order_fill(
            tenant=acme.tenant,
            account=book.client,
            instrument=unquoted,
            quantity=Decimal("1"),
            actor=None,
            idempotency_key="no-price",
        )
    assert refused.value.error_code == "price_unavailable"
    with as_tenant(acme.tenant), pytest.raises(ApplicationError) as short:
        order_fill(
            tenant=acme.tenant,
            account=book.client,
            instrument=xyz(),
            quantity=Decimal("1000"),
            actor=None,
            idempotency_key="too-big",
            shortfall_funding=no_credit,
        )
    assert short.value.error_code == "credit_limit"
    assert state(acme, book) == before
