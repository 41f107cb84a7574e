"""The posting service: balanced entries, no overdraft, segregation, idempotency, holds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ledger.models import Hold, JournalEntry, LedgerAccount, Posting
from ledger.rules import Side
from ledger.services import (
    Leg,
    entry_post,
    entry_reverse,
    hold_post,
    hold_reserve,
    hold_void,
    holds_expire,
    transfer_post,
)
from ledger.verification import ledger_problems
from platform_core.exceptions import ApplicationError
from tests.ledger.factories import key, open_book, refreshed

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(acme):
    return open_book(acme)


def withdraw(book, amount, idem=None):
    return transfer_post(
        tenant=book.client.tenant,
        debit_account=book.client.pk,
        credit_account=book.bank.pk,
        amount=Decimal(amount),
        currency="USD",
        entry_type="withdrawal",
        idempotency_key=idem or key("w"),
    )


def test_a_deposit_moves_both_sides_and_keeps_running_balances(book):
    book.fund("100.00")
    book.fund("25.50")
    client, bank = refreshed(book.client), refreshed(book.bank)
    assert (client.balance, client.available) == (Decimal("125.50"), Decimal("125.50"))
    assert bank.balance == Decimal("125.50")
    assert [
        p.balance_after for p in Posting.objects.filter(account=book.client).order_by("pk")
    ] == [
        Decimal("100.00"),
        Decimal("125.50"),
    ]
    assert ledger_problems(tenant=book.client.tenant) == []


def test_client_cash_never_goes_negative_and_nothing_is_written(book):
    book.fund("10.00")
    entries = JournalEntry.objects.count()
    with pytest.raises(ApplicationError) as refused:
        withdraw(book, "10.01")
    assert refused.value.error_code == "insufficient_funds"
    assert JournalEntry.objects.count() == entries
    assert refreshed(book.client).balance == Decimal("10.00")


def test_holds_count_against_the_available_balance(book):
    book.fund("100.00")
    hold_reserve(
        tenant=book.client.tenant,
        debit_account=book.client.pk,
        credit_account=book.bank.pk,
        amount=Decimal("80.00"),
        currency="USD",
        entry_type="withdrawal",
    )
    assert refreshed(book.client).available == Decimal("20.00")
    with pytest.raises(ApplicationError, match="enough available"):
        withdraw(book, "20.01")
    withdraw(book, "20.00")
    assert refreshed(book.client).available == 0
    with pytest.raises(ApplicationError, match="enough available"):
        hold_reserve(
            tenant=book.client.tenant,
            debit_account=book.client.pk,
            credit_account=book.bank.pk,
            amount=Decimal("0.01"),
            currency="USD",
            entry_type="withdrawal",
        )


@pytest.mark.parametrize(
    ("entry_type", "debit", "credit", "code"),
    [
        ("transfer", "client", "house", "segregation_violation"),
        ("deposit", "house", "client", "segregation_violation"),
        ("withdrawal", "client", "house", "segregation_violation"),
        ("fee", "house", "fees", "invalid"),  # same class, wrong type: a 400
    ],
)
def test_segregation_refusals(book, entry_type, debit, credit, code):
    book.fund("50.00")
    accounts = {"client": book.client, "house": book.house, "fees": book.fees, "bank": book.bank}
    entries = JournalEntry.objects.count()
    with pytest.raises(ApplicationError) as refused:
        transfer_post(
            tenant=book.client.tenant,
            debit_account=accounts[debit].pk,
            credit_account=accounts[credit].pk,
            amount=Decimal("1.00"),
            currency="USD",
            entry_type=entry_type,
            idempotency_key=key(),
        )
    assert refused.value.error_code == code
    assert JournalEntry.objects.count() == entries


def test_a_fee_is_allowed_and_shows_as_excess_client_money_until_swept(book):
    book.fund("50.00")
    transfer_post(
        tenant=book.client.tenant,
        debit_account=book.client.pk,
        credit_account=book.fees.pk,
        amount=Decimal("2.00"),
        currency="USD",
        entry_type="fee",
        idempotency_key=key(),
    )
    # The bank still holds 50, the platform owes the client 48: 2 of house money is in it.
    assert refreshed(book.bank).balance - refreshed(book.client).balance == Decimal("2.00")


@pytest.mark.parametrize("amount", ["0", "-1", "1.001", "abc", "NaN", "1e30"])
def test_bad_amounts_are_refused(book, amount):
    with pytest.raises(ApplicationError) as refused:
        withdraw(book, amount) if amount not in ("abc", "NaN") else transfer_post(
            tenant=book.client.tenant,
            debit_account=book.client.pk,
            credit_account=book.bank.pk,
            amount=amount,
            currency="USD",
            entry_type="withdrawal",
            idempotency_key=key(),
        )
    assert refused.value.status_code == 400


def test_a_replay_returns_the_entry_and_a_changed_replay_is_a_conflict(book):
    book.fund("100")
    first = withdraw(book, "10", idem="same")
    again = withdraw(book, "10.00", idem="same")  # the same by meaning
    assert again.pk == first.pk
    assert refreshed(book.client).balance == Decimal("90")
    with pytest.raises(ApplicationError) as conflict:
        withdraw(book, "11", idem="same")
    assert conflict.value.error_code == "idempotency_conflict"


def test_multi_leg_entries_balance_per_currency_all_or_nothing(book):
    book.fund("100")
    entries = JournalEntry.objects.count()
    with pytest.raises(ApplicationError, match="invalid fields"):
        entry_post(
            tenant=book.client.tenant,
            entry_type="fee",
            legs=[
                Leg(book.client.pk, Side.DEBIT, Decimal("3")),
                Leg(book.fees.pk, Side.CREDIT, Decimal("2")),
            ],
            idempotency_key=key(),
        )
    with pytest.raises(ApplicationError, match="enough available"):
        entry_post(
            tenant=book.client.tenant,
            entry_type="transfer",
            legs=[
                Leg(book.bank.pk, Side.CREDIT, Decimal("150")),
                Leg(book.client.pk, Side.DEBIT, Decimal("150")),
            ],
            idempotency_key=key(),
        )
    assert JournalEntry.objects.count() == entries


def test_the_database_refuses_an_unbalanced_entry_at_commit(book):
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ledger_post_entry(%s, 'transfer', '', 'raw', 'x', NULL, '', NULL, "
                "%s, %s, %s)",
                [
                    book.client.tenant_id,
                    [book.bank.pk, book.fees.pk],
                    ["debit", "credit"],
                    [Decimal("5"), Decimal("4")],
                ],
            )
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_postings_cannot_be_added_to_an_old_entry_or_changed(book):
    book.fund("10")
    entry = JournalEntry.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic():
        Posting.objects.create(
            tenant=book.client.tenant,
            entry=entry,
            account=book.house,
            side="debit",
            amount=Decimal("1"),
            currency="USD",
            balance_after=Decimal("1"),
        )
    for statement in (
        "UPDATE ledger_posting SET amount = 1",
        "DELETE FROM ledger_journalentry",
        "TRUNCATE ledger_posting",
    ):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)


def test_a_reversal_mirrors_the_entry_once(book):
    book.fund("40")
    deposit = JournalEntry.objects.get(entry_type="deposit")
    reversal = entry_reverse(tenant=book.client.tenant, entry_id=deposit.pk, idempotency_key=key())
    assert refreshed(book.client).balance == 0 and refreshed(book.bank).balance == 0
    assert reversal.reverses_id == deposit.pk
    with pytest.raises(ApplicationError) as again:
        entry_reverse(tenant=book.client.tenant, entry_id=deposit.pk, idempotency_key=key())
    assert again.value.error_code == "already_reversed"


def hold(book, amount="30", expires_at=None):
    return hold_reserve(
        tenant=book.client.tenant,
        debit_account=book.client.pk,
        credit_account=book.bank.pk,
        amount=Decimal(amount),
        currency="USD",
        entry_type="withdrawal",
        expires_at=expires_at,
    )


def test_a_hold_posts_in_part_and_releases_the_rest_exactly_once(book):
    book.fund("100")
    h = hold(book)
    posted = hold_post(tenant=book.client.tenant, hold_id=h.pk, amount=Decimal("12.50"))
    assert (posted.status, posted.posted_amount) == ("posted", Decimal("12.50"))
    client = refreshed(book.client)
    assert (client.balance, client.available, client.pending_debits) == (
        Decimal("87.50"),
        Decimal("87.50"),
        Decimal("0"),
    )
    for resolve in (
        lambda: hold_post(tenant=book.client.tenant, hold_id=h.pk),
        lambda: hold_void(tenant=book.client.tenant, hold_id=h.pk),
    ):
        with pytest.raises(ApplicationError) as again:
            resolve()
        assert again.value.error_code == "hold_already_resolved"
    with pytest.raises(ApplicationError) as too_much:
        hold_post(tenant=book.client.tenant, hold_id=hold(book, "5").pk, amount=Decimal("6"))
    assert too_much.value.fields == {"amount": ["At most the held 5.00 USD."]}
    assert ledger_problems(tenant=book.client.tenant) == []


def test_an_expired_hold_cannot_be_posted_even_before_the_expiry_task(book):
    book.fund("100")
    h = hold(book, expires_at=timezone.now() + timedelta(seconds=30))
    Hold.objects.filter(pk=h.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApplicationError) as refused:
        hold_post(tenant=book.client.tenant, hold_id=h.pk)
    assert refused.value.error_code == "hold_expired"
    assert holds_expire(tenant=book.client.tenant) == 1
    assert refreshed(book.client).available == Decimal("100")
    with pytest.raises(ApplicationError) as after:
        hold_void(tenant=book.client.tenant, hold_id=h.pk)
    assert after.value.error_code == "hold_expired"
    assert ledger_problems(tenant=book.client.tenant) == []


def test_another_tenants_account_is_refused(book, globex):
    from tests.conftest import as_tenant

    with as_tenant(globex.tenant):
        other = open_book(globex)
    with pytest.raises(ApplicationError) as refused:
        transfer_post(
            tenant=book.client.tenant,
            debit_account=other.client.pk,
            credit_account=book.bank.pk,
            amount=Decimal("1"),
            currency="USD",
            entry_type="withdrawal",
            idempotency_key=key(),
        )
    assert refused.value.status_code == 400 and "debit_account" in refused.value.fields
    assert LedgerAccount.objects.filter(pk=other.client.pk).count() == 0  # invisible here
