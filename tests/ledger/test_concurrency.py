"""Money under concurrency and crashes: conserved, never doubled, never below zero."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, connections
from django.db.models import Q, Sum

from ledger.models import JournalEntry, LedgerAccount, Posting
from ledger.services import account_create, transfer_post
from ledger.verification import ledger_problems
from platform_core.exceptions import ApplicationError
from tests.conftest import as_tenant, make_person, make_tenant_people
from tests.ledger.factories import open_book

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(count: int, target) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def body(n: int) -> None:
        try:
            barrier.wait()
            target(n)
        except BaseException as exc:  # pragma: no cover - reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_thousands_of_random_concurrent_transfers_conserve_money():
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
            for n in range(7)
        ]
        for account in clients:
            book.fund("1000.00", account)
    refusals: Counter[str] = Counter()

    def trade(worker: int) -> None:
        rng = random.Random(worker)
        for n in range(300):
            debit, credit = rng.sample(clients, 2)
            amount = Decimal(rng.randint(1, 40000)) / 100
            kind = rng.random()
            with as_tenant(tenant):
                try:
                    if kind < 0.8:
                        transfer_post(
                            tenant=tenant,
                            debit_account=debit.pk,
                            credit_account=credit.pk,
                            amount=amount,
                            currency="USD",
                            entry_type="transfer",
                            idempotency_key=f"w{worker}-{n}",
                        )
                    elif kind < 0.9:
                        transfer_post(
                            tenant=tenant,
                            debit_account=debit.pk,
                            credit_account=book.bank.pk,
                            amount=amount,
                            currency="USD",
                            entry_type="withdrawal",
                            idempotency_key=f"w{worker}-{n}",
                        )
                    else:
                        book.fund(str(amount), credit)
                except ApplicationError as refusal:
                    refusals[refusal.error_code] += 1

    errors = run_threads(6, trade)
    assert errors == [], errors[:3]  # no deadlock or other failure reached a caller
    assert set(refusals) <= {"insufficient_funds"}
    with as_tenant(tenant):
        totals = Posting.objects.aggregate(
            debits=Sum("amount", filter=Q(side="debit")),
            credits=Sum("amount", filter=Q(side="credit")),
        )
        assert totals["debits"] == totals["credits"]
        assert ledger_problems(tenant=tenant) == []
        assert all(a.balance >= 0 for a in LedgerAccount.objects.filter(kind="client_cash"))
        assert JournalEntry.objects.count() > 1500


def test_n_concurrent_withdrawals_of_which_m_can_be_funded():
    people = make_tenant_people("acme")
    with as_tenant(people.tenant):
        book = open_book(people)
        book.fund("100.00")
    outcomes: list[str] = []

    def withdraw(n: int) -> None:
        with as_tenant(people.tenant):
            try:
                transfer_post(
                    tenant=people.tenant,
                    debit_account=book.client.pk,
                    credit_account=book.bank.pk,
                    amount=Decimal("30.00"),
                    currency="USD",
                    entry_type="withdrawal",
                    idempotency_key=f"wd-{n}",
                )
                outcomes.append("ok")
            except ApplicationError as refusal:
                outcomes.append(refusal.error_code)

    assert run_threads(10, withdraw) == []
    assert Counter(outcomes) == {"ok": 3, "insufficient_funds": 7}
    with as_tenant(people.tenant):
        assert LedgerAccount.objects.get(pk=book.client.pk).balance == Decimal("10.00")


def test_racing_replays_write_one_entry_and_all_get_it():
    people = make_tenant_people("acme")
    with as_tenant(people.tenant):
        book = open_book(people)
        book.fund("100.00")
    entry_ids: list[int] = []

    def replay(n: int) -> None:
        with as_tenant(people.tenant):
            entry = transfer_post(
                tenant=people.tenant,
                debit_account=book.client.pk,
                credit_account=book.bank.pk,
                amount=Decimal("25"),
                currency="USD",
                entry_type="withdrawal",
                idempotency_key="the-same-key",
            )
            entry_ids.append(entry.pk)

    assert run_threads(6, replay) == []
    assert len(set(entry_ids)) == 1 and len(entry_ids) == 6
    with as_tenant(people.tenant):
        assert LedgerAccount.objects.get(pk=book.client.pk).balance == Decimal("75.00")


BATCH = """
import os, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "platform_core.settings.test"
from django.conf import settings
settings.DATABASES["default"]["NAME"] = sys.argv[1]
django.setup()
from decimal import Decimal
from ledger.services import transfer_post
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context
tenant = Tenant.objects.get(pk=int(sys.argv[2]))
bank, client = int(sys.argv[3]), int(sys.argv[4])
for n in range(int(sys.argv[5])):
    with rls_context(tenant=tenant):
        transfer_post(tenant=tenant, debit_account=bank, credit_account=client,
                      amount=Decimal("1.00"), currency="USD", entry_type="deposit",
                      idempotency_key=f"batch-{n}")
    print(n, flush=True)
"""


def test_a_worker_killed_mid_batch_then_redriven_loses_and_duplicates_nothing():
    people = make_tenant_people("acme")
    with as_tenant(people.tenant):
        book = open_book(people)
    size = 200
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            BATCH,
            connection.settings_dict["NAME"],
            str(people.tenant.pk),
            str(book.bank.pk),
            str(book.client.pk),
            str(size),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    done = 0
    deadline = time.monotonic() + 60
    while done < 40 and time.monotonic() < deadline:
        line = worker.stdout.readline()
        if not line:
            break
        done = int(line.split()[0]) + 1
    worker.kill()  # SIGKILL: no cleanup, a transaction may be cut in half
    worker.wait()
    assert 40 <= done < size, "the worker must die mid-batch"
    with as_tenant(people.tenant):
        before = JournalEntry.objects.filter(idempotency_key__startswith="batch-").count()
        assert done <= before < size
        for n in range(size):  # the re-drive: the same keys, in order
            transfer_post(
                tenant=people.tenant,
                debit_account=book.bank.pk,
                credit_account=book.client.pk,
                amount=Decimal("1.00"),
                currency="USD",
                entry_type="deposit",
                idempotency_key=f"batch-{n}",
            )
        keys = list(
            JournalEntry.objects.filter(idempotency_key__startswith="batch-").values_list(
                "idempotency_key", flat=True
            )
        )
        assert sorted(keys) == sorted(f"batch-{n}" for n in range(size))
        assert LedgerAccount.objects.get(pk=book.client.pk).balance == Decimal(size)
        assert ledger_problems(tenant=people.tenant) == []


def test_ledger_verify_catches_a_posting_changed_behind_the_applications_back(capsys):
    from django.core.management import CommandError, call_command

    from tests.conftest import as_owner

    people = make_tenant_people("acme")
    with as_tenant(people.tenant):
        book = open_book(people)
        book.fund("100.00")
        book.fund("50.00")
    call_command("ledger_verify", "--tenant", "acme")
    assert "ledger intact (2 entries newly sealed)" in capsys.readouterr().out
    with as_tenant(people.tenant):
        victim = Posting.objects.filter(account=book.client).order_by("pk").first()
    as_owner(
        "ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_append_only",
        ("UPDATE ledger_posting SET amount = 1000 WHERE id = %s", [victim.pk]),
        "ALTER TABLE ledger_posting ENABLE TRIGGER ledger_posting_append_only",
        tenant=people.tenant,
    )
    with pytest.raises(CommandError, match=r"does not balance|postings sum to|altered"):
        call_command("ledger_verify", "--tenant", "acme")
