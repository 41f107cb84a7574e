"""The batch path (``entries_post_batch`` over ``ledger_post_entries``): many entries, one call.

All or none; entries judged in order as if posted one by one; idempotency per entry as for a
single entry (docs/ledger.md, "Posting paths").
"""

from __future__ import annotations

import random
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.models import Q, Sum

from ledger.models import Hold, JournalEntry, LedgerAccount, Posting
from ledger.rules import Side
from ledger.services import (
    BatchEntryRefused,
    EntrySpec,
    Leg,
    account_create,
    entries_post_batch,
    entry_post,
    hold_reserve,
)
from ledger.verification import ledger_problems
from platform_core.exceptions import ApplicationError
from tests.conftest import as_tenant, make_person, make_tenant_people
from tests.ledger.factories import key, open_book, refreshed


def fee(book, amount: str, idem: str | None = None, memo: str = "") -> EntrySpec:
    return EntrySpec(
        "fee",
        [
            Leg(book.client.pk, Side.DEBIT, Decimal(amount)),
            Leg(book.fees.pk, Side.CREDIT, Decimal(amount)),
        ],
        idem or key("fee"),
        memo,
    )


def deposit(book, amount: str, idem: str | None = None) -> EntrySpec:
    return EntrySpec(
        "deposit",
        [
            Leg(book.bank.pk, Side.DEBIT, Decimal(amount)),
            Leg(book.client.pk, Side.CREDIT, Decimal(amount)),
        ],
        idem or key("dep"),
    )


def withdrawal(book, amount: str, idem: str | None = None) -> EntrySpec:
    return EntrySpec(
        "withdrawal",
        [
            Leg(book.client.pk, Side.DEBIT, Decimal(amount)),
            Leg(book.bank.pk, Side.CREDIT, Decimal(amount)),
        ],
        idem or key("wd"),
    )


def snapshot(book) -> tuple[int, int, list[Decimal]]:
    accounts = [refreshed(a) for a in (book.bank, book.client, book.fees, book.house)]
    return (
        JournalEntry.objects.count(),
        Posting.objects.count(),
        [a.posted_debits - a.posted_credits for a in accounts],
    )


@pytest.fixture
def book(acme):
    return open_book(acme)


@pytest.mark.django_db
class TestAllOrNone:
    def test_a_refusal_for_funds_refuses_the_batch_naming_the_entry(self, book):
        book.fund("10")
        before = snapshot(book)
        batch = [fee(book, "4"), fee(book, "7"), fee(book, "1")]  # 4 + 7 > 10: the second
        with pytest.raises(BatchEntryRefused) as refused:
            entries_post_batch(tenant=book.client.tenant, entries=batch)
        assert (refused.value.index, refused.value.key) == (1, batch[1].idempotency_key)
        assert refused.value.status_code == 422
        assert refused.value.error_code == "insufficient_funds"
        assert f"account {book.client.pk} would go below zero" in str(refused.value.fields)
        assert snapshot(book) == before
        # Nothing used up: the same keys post once the money is there.
        book.fund("5")
        ids = entries_post_batch(tenant=book.client.tenant, entries=batch)
        assert len(set(ids)) == 3 and refreshed(book.client).balance == Decimal("3")
        assert ledger_problems(tenant=book.client.tenant) == []

    @pytest.mark.parametrize(
        ("bad", "code", "status"),
        [
            # custodian_bank -> house_cash under "transfer" crosses client/house money.
            ("segregation", "segregation_violation", 422),
            ("unbalanced", "invalid", 400),
            ("over_precise", "invalid", 400),
        ],
    )
    def test_a_bad_entry_anywhere_refuses_the_batch(self, book, bad, code, status):
        book.fund("100")
        before = snapshot(book)
        wrong = {
            "segregation": EntrySpec(
                "transfer",
                [
                    Leg(book.bank.pk, Side.DEBIT, Decimal(1)),
                    Leg(book.house.pk, Side.CREDIT, Decimal(1)),
                ],
                key(),
            ),
            "unbalanced": EntrySpec(
                "fee",
                [
                    Leg(book.client.pk, Side.DEBIT, Decimal(2)),
                    Leg(book.fees.pk, Side.CREDIT, Decimal(1)),
                ],
                key(),
            ),
            "over_precise": fee(book, "0.001"),
        }[bad]
        with pytest.raises(BatchEntryRefused) as refused:
            entries_post_batch(
                tenant=book.client.tenant, entries=[fee(book, "1"), fee(book, "2"), wrong]
            )
        assert refused.value.index == 2
        assert (refused.value.error_code, refused.value.status_code) == (code, status)
        assert snapshot(book) == before

    def test_holds_count_against_the_batch(self, book):
        book.fund("10")
        hold_reserve(
            tenant=book.client.tenant,
            debit_account=book.client.pk,
            credit_account=book.bank.pk,
            amount=Decimal("8"),
            currency="USD",
            entry_type="withdrawal",
        )
        with pytest.raises(BatchEntryRefused) as refused:
            entries_post_batch(tenant=book.client.tenant, entries=[fee(book, "1"), fee(book, "2")])
        assert (refused.value.index, refused.value.error_code) == (1, "insufficient_funds")
        entries_post_batch(tenant=book.client.tenant, entries=[fee(book, "1"), fee(book, "1")])
        assert refreshed(book.client).available == 0
        assert Hold.objects.get().status == Hold.Status.PENDING

    def test_entries_are_judged_in_order_as_if_posted_one_by_one(self, book):
        # Money deposited earlier in the batch pays a withdrawal later in it...
        entries_post_batch(
            tenant=book.client.tenant, entries=[deposit(book, "10"), withdrawal(book, "10")]
        )
        assert refreshed(book.client).balance == 0
        # ...but not the other way round, even though the batch's net result is zero.
        with pytest.raises(BatchEntryRefused) as refused:
            entries_post_batch(
                tenant=book.client.tenant, entries=[withdrawal(book, "10"), deposit(book, "10")]
            )
        assert (refused.value.index, refused.value.error_code) == (0, "insufficient_funds")
        assert JournalEntry.objects.count() == 2


@pytest.mark.django_db
class TestIdempotency:
    def test_a_redriven_batch_writes_only_what_is_missing(self, book):
        tenant = book.client.tenant
        book.fund("100")
        first = [fee(book, "1"), fee(book, "2")]
        ids = entries_post_batch(tenant=tenant, entries=first)
        before = snapshot(book)
        assert entries_post_batch(tenant=tenant, entries=first) == ids  # a replay
        assert snapshot(book) == before
        # Same content compared by meaning ("2" == "2.00"); one new entry at the end.
        again = [first[0], fee(book, "2.00", first[1].idempotency_key), fee(book, "3")]
        more = entries_post_batch(tenant=tenant, entries=again)
        assert more[:2] == ids and more[2] not in ids
        assert refreshed(book.client).balance == Decimal("94")

    def test_a_key_posted_alone_is_a_replay_in_a_batch_and_the_reverse(self, book):
        tenant = book.client.tenant
        book.fund("100")
        alone = fee(book, "5")
        entry = entry_post(
            tenant=tenant, entry_type="fee", legs=alone.legs, idempotency_key=alone.idempotency_key
        )
        batched = fee(book, "6")
        ids = entries_post_batch(tenant=tenant, entries=[alone, batched])
        assert ids[0] == entry.pk
        again = entry_post(
            tenant=tenant,
            entry_type="fee",
            legs=batched.legs,
            idempotency_key=batched.idempotency_key,
        )
        assert again.pk == ids[1]
        assert refreshed(book.client).balance == Decimal("89")

    def test_a_key_reused_with_other_content_refuses_the_batch(self, book):
        tenant = book.client.tenant
        book.fund("100")
        entries_post_batch(tenant=tenant, entries=[fee(book, "1", "same-key")])
        before = snapshot(book)
        with pytest.raises(BatchEntryRefused) as refused:
            entries_post_batch(
                tenant=tenant,
                entries=[fee(book, "1"), fee(book, "1", "same-key", memo="another memo")],
            )
        assert (refused.value.index, refused.value.error_code) == (1, "idempotency_conflict")
        assert refused.value.status_code == 409
        assert snapshot(book) == before
        with pytest.raises(ApplicationError, match="different entry"):
            entry_post(
                tenant=tenant,
                entry_type="fee",
                legs=fee(book, "2").legs,
                idempotency_key="same-key",
            )

    def test_a_key_twice_in_one_batch_is_one_entry_or_a_conflict(self, book):
        tenant = book.client.tenant
        book.fund("100")
        twice = fee(book, "3")
        ids = entries_post_batch(tenant=tenant, entries=[twice, fee(book, "1"), twice])
        assert ids[0] == ids[2] and JournalEntry.objects.count() == 3
        assert refreshed(book.client).balance == Decimal("96")
        with pytest.raises(BatchEntryRefused) as refused:
            entries_post_batch(
                tenant=tenant, entries=[fee(book, "1", "dup"), fee(book, "2", "dup")]
            )
        assert (refused.value.index, refused.value.error_code) == (1, "idempotency_conflict")


@pytest.mark.django_db
def test_running_balances_across_a_batch_that_touches_one_account_many_times(book):
    tenant = book.client.tenant
    rng = random.Random(5)
    batch, expected, balance = [], [], Decimal(0)
    for n in range(60):
        amount = Decimal(rng.randint(1, 5000)) / 100
        if n % 3 == 2 and balance >= amount:
            batch.append(fee(book, str(amount)))
            balance -= amount
        else:
            batch.append(deposit(book, str(amount)))
            balance += amount
        expected.append(balance)
    # One entry moving money out of and back into the same account: judged on its result.
    batch.append(
        EntrySpec(
            "transfer",
            [
                Leg(book.client.pk, Side.DEBIT, balance + 1),
                Leg(book.client.pk, Side.CREDIT, balance + 1),
                Leg(book.bank.pk, Side.DEBIT, Decimal(1)),
                Leg(book.bank.pk, Side.CREDIT, Decimal(1)),
            ],
            key("round-trip"),
        )
    )
    ids = entries_post_batch(tenant=tenant, entries=batch)
    assert ids == sorted(ids)  # the journal's order is the batch's order
    client_legs = list(Posting.objects.filter(account=book.client).order_by("pk"))
    assert [p.balance_after for p in client_legs[:60]] == expected
    assert [p.balance_after for p in client_legs[60:]] == [Decimal(-1), balance]
    assert refreshed(book.client).balance == balance
    deposits = [spec.legs[0].amount for spec in batch if spec.entry_type == "deposit"]
    assert refreshed(book.bank).balance == sum(deposits)
    assert ledger_problems(tenant=tenant) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_and_single_entries_keep_every_invariant(capsys):
    people = make_tenant_people("acme")
    tenant = people.tenant
    with as_tenant(tenant):
        book = open_book(people)
        clients = [book.client] + [
            account_create(
                tenant=tenant,
                kind="client_cash",
                currency="USD",
                owner_id=make_person(tenant, f"c{n}@acme.example", "client").membership.pk,
            )
            for n in range(9)
        ]
        entries_post_batch(
            tenant=tenant,
            entries=[
                EntrySpec(
                    "deposit",
                    [
                        Leg(book.bank.pk, Side.DEBIT, Decimal(300)),
                        Leg(c.pk, Side.CREDIT, Decimal(300)),
                    ],
                    f"seed-{c.pk}",
                )
                for c in clients
            ],
        )
    refused: list[str] = []
    refused_entries: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(worker: int) -> None:
        rng = random.Random(worker)
        try:
            barrier.wait()
            for round_ in range(15):
                specs = []
                for n in range(20):
                    debit, credit = rng.sample(clients, 2)
                    amount = Decimal(rng.randint(1, 6000)) / 100
                    specs.append(
                        EntrySpec(
                            "transfer",
                            [
                                Leg(debit.pk, Side.DEBIT, amount),
                                Leg(credit.pk, Side.CREDIT, amount),
                            ],
                            f"w{worker}-{round_}-{n}",
                        )
                    )
                if worker == 3:
                    # One writer posts the same kind of entries one by one, each on its own
                    # (a caller's transaction holding many entries' locks could deadlock).
                    for spec in specs:
                        try:
                            entry_post(
                                tenant=tenant,
                                entry_type=spec.entry_type,
                                legs=spec.legs,
                                idempotency_key=spec.idempotency_key,
                            )
                        except ApplicationError as refusal:
                            refused.append(refusal.error_code)
                            refused_entries.append(1)
                    continue
                with as_tenant(tenant):
                    try:
                        entries_post_batch(tenant=tenant, entries=specs)
                    except BatchEntryRefused as refusal:
                        refused.append(refusal.error_code)
                        refused_entries.append(len(specs))
        except BaseException as exc:  # pragma: no cover - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [], errors[:3]  # no deadlock or other failure reached a caller
    assert set(refused) <= {"insufficient_funds"}
    with as_tenant(tenant):
        totals = Posting.objects.aggregate(
            debits=Sum("amount", filter=Q(side="debit")),
            credits=Sum("amount", filter=Q(side="credit")),
        )
        assert totals["debits"] == totals["credits"]
        assert all(a.available >= 0 for a in LedgerAccount.objects.filter(kind="client_cash"))
        assert sum(a.balance for a in LedgerAccount.objects.filter(kind="client_cash")) == 3000
        assert ledger_problems(tenant=tenant) == []
        written = JournalEntry.objects.count() - len(clients)
    assert written == 4 * 15 * 20 - sum(refused_entries) > 0
    call_command("ledger_verify", "--tenant", "acme")
    assert "ledger intact" in capsys.readouterr().out
