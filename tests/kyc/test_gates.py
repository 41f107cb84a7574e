"""The AML monitoring hold is enforced: a client with an open blocking monitoring alert can
neither place an order (risk's pre-trade gates) nor ask for a withdrawal (the ledger's
withdrawal gates), and a refused request writes nothing. Other clients are not affected."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kyc.selectors import monitoring_hold_for
from ledger.hooks import withdrawal_gates
from ledger.models import Hold, JournalEntry, WithdrawalRequest
from ledger.services import transfer_post
from ledger.withdrawals import withdrawal_request
from platform_core.exceptions import ApplicationError
from risk.hooks import pretrade_gates
from risk.models import Order, Position
from risk.orders import order_place
from tests.conftest import TenantPeople, as_tenant
from tests.ledger.factories import Book, open_book
from tests.risk.factories import equity, quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(acme: TenantPeople, settings: Any) -> Book:
    settings.RISK_SUITABILITY_REQUIRED = False  # suitability has its own tests
    book = open_book(acme)
    book.fund("10000.00")
    quote(equity("XYZ"), "49.90", "50.00", "50.10")
    return book


def hold_the_client(acme: TenantPeople, book: Book, capture: Any) -> None:
    """Money from North Korea (an FATF call-for-action country): the monitoring rule's outcome
    is ``decline``, which holds the client until compliance closes the case."""
    with capture(execute=True):
        transfer_post(
            tenant=acme.tenant,
            debit_account=book.bank.pk,
            credit_account=book.client.pk,
            amount=Decimal("100.00"),
            currency="USD",
            entry_type="deposit",
            idempotency_key="held-deposit",
            memo="country=KP",
        )
    assert monitoring_hold_for(tenant=acme.tenant, membership=acme.client.membership)


def buy(acme: TenantPeople, book: Book, key: str) -> Order:
    from risk.models import Instrument

    return order_place(
        tenant=acme.tenant,
        account=book.client,
        membership=acme.client.membership,
        actor=acme.client.user,
        instrument=Instrument.objects.get(symbol="XYZ"),
        quantity=Decimal("10"),
        idempotency_key=key,
    )


def withdraw(acme: TenantPeople, key: str) -> WithdrawalRequest:
    return withdrawal_request(
        tenant=acme.tenant,
        membership=acme.client.membership,
        actor=acme.client.user,
        currency="USD",
        amount="500.00",
        destination="GB33BUKB20201555555555",
        idempotency_key=key,
    )


def written(acme: TenantPeople) -> tuple[int, ...]:
    with as_tenant(acme.tenant):
        return (
            JournalEntry.objects.count(),
            Order.objects.count(),
            Position.objects.count(),
            WithdrawalRequest.objects.count(),
            Hold.objects.count(),
        )


def test_kyc_registers_its_hold_with_both_gates():
    assert "kyc.monitoring_hold" in pretrade_gates
    assert "kyc.monitoring_hold" in withdrawal_gates


def test_a_client_without_a_hold_orders_and_withdraws(acme, book):
    assert buy(acme, book, "free-order").quantity == Decimal("10")
    assert withdraw(acme, "free-withdrawal").status == "requested"


def test_a_held_client_can_neither_order_nor_withdraw_and_nothing_is_written(
    acme, book, django_capture_on_commit_callbacks
):
    hold_the_client(acme, book, django_capture_on_commit_callbacks)
    before = written(acme)
    with pytest.raises(ApplicationError) as order_refused:
        buy(acme, book, "held-order")
    assert order_refused.value.status_code == 422
    assert order_refused.value.error_code == "pretrade_refused"
    assert "compliance" in order_refused.value.message
    with pytest.raises(ApplicationError) as withdrawal_refused:
        withdraw(acme, "held-withdrawal")
    assert withdrawal_refused.value.status_code == 422
    assert withdrawal_refused.value.error_code == "withdrawal_held"
    assert "compliance" in withdrawal_refused.value.message
    assert written(acme) == before


def test_the_withdrawal_api_answers_the_hold_in_the_error_body(
    acme, book, django_capture_on_commit_callbacks
):
    from django.test import Client

    from tests.conftest import api_token_for

    hold_the_client(acme, book, django_capture_on_commit_callbacks)
    before = written(acme)
    token = api_token_for(Client(), acme.client)
    response = Client().post(
        "/api/v1/ledger/withdrawals",
        {"currency": "USD", "amount": "500.00", "destination": "GB33BUKB20201555555555"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="held-api-withdrawal",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "withdrawal_held"
    assert written(acme) == before
