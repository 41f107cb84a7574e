"""The posting service called on its own (a task, a bank notice): one statement, its own commit.

Outside any transaction ``entry_post`` is a single statement that opens the tenant's row-security
context for itself; inside a caller's transaction it takes no savepoint, so a refusal must leave
that transaction usable and unchanged.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction

from ledger.models import JournalEntry, Posting
from ledger.rules import Side
from ledger.services import Leg, entry_post, transfer_post
from ledger.verification import ledger_problems
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.rls import current_tenant_id
from tests.conftest import as_tenant, make_tenant_people
from tests.ledger.factories import key, open_book, refreshed

pytestmark = pytest.mark.django_db(transaction=True)


def test_outside_a_transaction_an_entry_posts_replays_and_refuses_on_its_own():
    people = make_tenant_people("acme")
    tenant = people.tenant
    with as_tenant(tenant):
        book = open_book(people)
    assert not connection.in_atomic_block

    def fee(amount: str, idem: str) -> JournalEntry:
        return entry_post(
            tenant=tenant,
            entry_type="fee",
            legs=[
                Leg(book.client.pk, Side.DEBIT, Decimal(amount)),
                Leg(book.fees.pk, Side.CREDIT, Decimal(amount)),
            ],
            idempotency_key=idem,
        )

    book.fund("50")
    first = fee("20", "fee-1")
    assert fee("20.00", "fee-1").pk == first.pk  # a replay, found as the tenant
    with pytest.raises(ApplicationError) as refused:
        fee("31", key())
    assert refused.value.error_code == "insufficient_funds"
    # The statement's context ended with it: nothing is visible without one.
    assert current_tenant_id() is None and not JournalEntry.objects.exists()
    with as_tenant(tenant):
        assert JournalEntry.objects.count() == 2  # the deposit and one fee
        client_postings = Posting.objects.filter(account=book.client).order_by("pk")
        assert [p.balance_after for p in client_postings] == [Decimal("50"), Decimal("30")]
        assert refreshed(book.client).balance == Decimal("30")
        assert ledger_problems(tenant=tenant) == []


def test_inside_a_transaction_a_refusal_leaves_it_usable_and_unchanged():
    people = make_tenant_people("acme")
    tenant = people.tenant
    with as_tenant(tenant):
        book = open_book(people)
        book.fund("10")
        with transaction.atomic():
            with pytest.raises(ApplicationError) as refused:
                transfer_post(
                    tenant=tenant,
                    debit_account=book.client.pk,
                    credit_account=book.bank.pk,
                    amount=Decimal("10.01"),
                    currency="USD",
                    entry_type="withdrawal",
                    idempotency_key=key(),
                )
            assert refused.value.error_code == "insufficient_funds"
            # The caller carries on in the same transaction (as the API stores the refusal).
            transfer_post(
                tenant=tenant,
                debit_account=book.client.pk,
                credit_account=book.bank.pk,
                amount=Decimal("10"),
                currency="USD",
                entry_type="withdrawal",
                idempotency_key=key(),
            )
        assert refreshed(book.client).balance == 0
        assert JournalEntry.objects.count() == 2
        assert ledger_problems(tenant=tenant) == []
