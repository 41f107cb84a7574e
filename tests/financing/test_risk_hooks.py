"""Financing behind the risk app's hooks: the loans the engine margins (``loan_sources``) and
the drawdown that pays for a margin purchase (``purchase_funding``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from financing.models import FinancingContract
from financing.selectors import loans_by_account
from ledger.models import JournalEntry, LedgerAccount
from ledger.services import account_create
from platform_core.exceptions import ApplicationError
from risk.hooks import loan_sources, purchase_funding
from tests.conftest import TenantPeople
from tests.financing.factories import kyc_approve, lender

pytestmark = pytest.mark.django_db
SEP_28 = date(2026, 9, 28)


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


@pytest.fixture
def unsigned_book(acme: TenantPeople) -> Any:
    book = lender(acme)
    kyc_approve(acme, rating="medium")
    book.line("50000", leverage_cap="2")
    return book


@pytest.fixture
def book(unsigned_book: Any) -> Any:
    unsigned_book.sign_all()
    return unsigned_book


def fund(book: Any, amount: str, key: str = "order-1") -> Any:
    return purchase_funding.get("financing.drawdown").fund(
        tenant=book.tenant,
        account=book.client_cash,
        membership=book.client.membership,
        actor=book.client.user,
        amount=Decimal(amount),
        idempotency_key=key,
        order_key=key,
    )


def client_cash(book: Any) -> Decimal:
    return LedgerAccount.objects.get(pk=book.client_cash.pk).balance


def test_loans_are_principal_plus_unpaid_interest_in_the_accounts_currency(
    book: Any, acme: TenantPeople, globex: TenantPeople
) -> None:
    first = book.draw("10000.00", day=SEP_28)
    book.draw("2500.00", day=SEP_28)
    # Interest charged and unpaid (capitalised when the cash was short) is owed too.
    FinancingContract.objects.filter(pk=first.pk).update(interest_owed=Decimal("12.34"))
    eur = account_create(
        tenant=acme.tenant,
        kind="client_cash",
        currency="EUR",
        owner_id=acme.client.membership.pk,
    )
    house = LedgerAccount.objects.get(tenant=acme.tenant, kind="house_cash", currency="USD")
    source = loan_sources.get("financing.contracts")
    with CaptureQueriesContext(connection) as queries:
        loans = source.loans(tenant=acme.tenant, accounts=[book.client_cash, eur, house])
    assert loans == {book.client_cash.pk: Decimal("12512.34")}  # EUR owes nothing
    assert len(queries) == 1
    # The same accounts asked about in another tenant's name: nothing of acme's shows.
    assert source.loans(tenant=globex.tenant, accounts=[book.client_cash]) == {}


def test_loans_for_many_clients_take_one_query_and_skip_repaid_contracts(
    book: Any, acme: TenantPeople
) -> None:
    from financing import services
    from tests.conftest import make_person

    other = make_person(acme.tenant, "second-client@acme.test", "client")
    other.user.full_name = "Li Si"
    other.user.save(update_fields=["full_name"])
    other_cash = account_create(
        tenant=acme.tenant, kind="client_cash", currency="USD", owner_id=other.membership.pk
    )
    repaid = book.draw("300.00", day=SEP_28)
    services.contract_repay(
        tenant=acme.tenant,
        membership=acme.client.membership,
        actor=acme.client.user,
        contract_id=repaid.pk,
        amount="300.00",
        idempotency_key="repay-all",
    )
    book.draw("700.00", day=SEP_28)
    with CaptureQueriesContext(connection) as queries:
        loans = loans_by_account(tenant=acme.tenant, accounts=[book.client_cash, other_cash])
    assert loans == {book.client_cash.pk: Decimal("700.00")}
    assert len(queries) == 1


def test_a_margin_purchase_draws_on_the_line_and_posts_a_drawdown(book: Any) -> None:
    book.deposit("10000.00")
    entry = fund(book, "8000.00")
    assert entry.entry_type == "loan_drawdown"
    assert client_cash(book) == Decimal("18000.00")
    (contract,) = FinancingContract.objects.all()
    assert (contract.principal, contract.tenor, contract.status) == (
        Decimal("8000.00"),
        "overnight",
        "open",
    )
    assert loans_by_account(tenant=book.tenant, accounts=[book.client_cash]) == {
        book.client_cash.pk: Decimal("8000.00")
    }


def test_a_replayed_funding_returns_the_first_entry_and_lends_once(book: Any) -> None:
    book.deposit("10000.00")
    first = fund(book, "5000.00", key="order-7")
    again = fund(book, "5000.00", key="order-7")
    assert again.pk == first.pk
    assert FinancingContract.objects.count() == 1
    assert client_cash(book) == Decimal("15000.00")
    with pytest.raises(ApplicationError) as conflict:
        fund(book, "6000.00", key="order-7")
    assert conflict.value.error_code == "idempotency_conflict"


def _refused(book: Any, amount: str) -> ApplicationError:
    before = (client_cash(book), JournalEntry.objects.count(), FinancingContract.objects.count())
    with pytest.raises(ApplicationError) as refused:
        fund(book, amount)
    after = (client_cash(book), JournalEntry.objects.count(), FinancingContract.objects.count())
    assert after == before
    assert refused.value.status_code == 422
    return refused.value


def test_funding_beyond_the_limit_is_refused_and_writes_nothing(book: Any) -> None:
    book.deposit("40000.00")
    assert _refused(book, "50000.01").error_code == "credit_limit_exceeded"


def test_funding_beyond_the_lines_leverage_cap_is_refused(book: Any) -> None:
    """Cap 2: 10,000 of own money buys at most 20,000 (10,000 own + 10,000 lent)."""
    book.deposit("10000.00")
    assert _refused(book, "10000.01").error_code == "leverage_cap_exceeded"
    fund(book, "10000.00")


def test_funding_without_the_signed_disclosure_is_refused(unsigned_book: Any) -> None:
    unsigned_book.deposit("10000.00")
    assert _refused(unsigned_book, "100.00").error_code == "disclosure_unsigned"


def test_funding_without_a_line_or_with_a_line_under_review_is_refused(book: Any) -> None:
    from financing import services

    book.deposit("10000.00")
    services.credit_lines_review_flag(
        tenant=book.tenant, membership=book.client.membership, reason="rating changed"
    )
    assert _refused(book, "100.00").error_code == "credit_line_inactive"
    eur = account_create(
        tenant=book.tenant,
        kind="client_cash",
        currency="EUR",
        owner_id=book.client.membership.pk,
    )
    with pytest.raises(ApplicationError) as refused:
        purchase_funding.get("financing.drawdown").fund(
            tenant=book.tenant,
            account=eur,
            membership=book.client.membership,
            actor=book.client.user,
            amount=Decimal("100.00"),
            idempotency_key="eur-1",
            order_key="eur-1",
        )
    assert (refused.value.status_code, refused.value.error_code) == (422, "no_credit_line")


def test_a_margin_buy_is_lent_its_shortfall_and_the_engine_sees_the_loan(book: Any) -> None:
    """Through risk's order_place: the pre-trade gate passes, financing lends what the cash
    does not cover, the trade settles, and the margin shows the loan."""
    from risk.orders import order_place
    from risk.selectors import margin_status
    from tests.risk.factories import equity, quote

    xyz = equity("XYZ")
    quote(xyz, "99.90", "100.00", "100.10")
    book.deposit("10000.00")
    order = order_place(
        tenant=book.tenant,
        account=book.client_cash,
        membership=book.client.membership,
        actor=book.client.user,
        instrument=xyz,
        quantity=Decimal("150"),
        idempotency_key="buy-1",
    )
    (contract,) = FinancingContract.objects.all()
    assert contract.principal == -order.cash - Decimal("10000.00") > 0
    assert client_cash(book) == 0
    status = margin_status(
        tenant=book.tenant, account=LedgerAccount.objects.get(pk=book.client_cash.pk)
    )
    assert status.loan == contract.principal
    with pytest.raises(ApplicationError) as refused:  # 2x own money at most
        order_place(
            tenant=book.tenant,
            account=book.client_cash,
            membership=book.client.membership,
            actor=book.client.user,
            instrument=xyz,
            quantity=Decimal("100"),
            idempotency_key="buy-2",
        )
    assert refused.value.status_code == 422
    assert FinancingContract.objects.count() == 1


def test_a_client_on_an_aml_hold_is_lent_nothing(book: Any, django_capture_on_commit_callbacks):
    """KYC's monitoring hold (an open ``decline``/``block_and_review`` alert) stops new credit
    as it stops orders and withdrawals (FATF R.20: hold while the report is reviewed)."""
    from kyc.selectors import monitoring_hold_for
    from ledger.services import transfer_post

    book.deposit("10000.00")
    fund(book, "100.00", key="before-hold")
    with django_capture_on_commit_callbacks(execute=True):
        transfer_post(
            tenant=book.tenant,
            debit_account=book.bank.pk,
            credit_account=book.client_cash.pk,
            amount=Decimal("100.00"),
            currency=book.currency,
            entry_type="deposit",
            idempotency_key="held-deposit",
            memo="country=KP",  # an FATF call-for-action country: the rule declines
        )
    assert monitoring_hold_for(tenant=book.tenant, membership=book.client.membership)
    assert _refused(book, "100.00").error_code == "credit_held"
