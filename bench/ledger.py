"""Ledger posting throughput: the service path, the batch path and a naive ORM baseline.

Cases: ``naive``, ``service`` (``entry_post`` on its own, one statement that commits),
``nested`` (``entry_post`` inside the caller's transaction and tenant context, as the API calls
it), ``batch`` (``entries_post_batch``, many entries per transaction; ``BENCH_LEDGER_BATCH``
entries, 500 by default) and ``sharded`` (the batch path, each writer on its own accounts).
Each case runs WRITERS threads (each with its own database connection, as the application
role) for a fixed time, posting balanced two-leg entries between 2,000 client accounts; "hot"
means every entry also touches one shared house account (a fee to fee_income). Durability is
left on; the PostgreSQL settings are printed. Every invariant is checked at the end.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections.abc import Callable
from decimal import Decimal

from django.db import connection, connections

from bench.ledger_profile import backend_cpu
from ledger.hooks import entry_committed
from ledger.models import JournalEntry, LedgerAccount, Posting
from ledger.rules import ACCOUNT_KINDS, Side
from ledger.services import EntrySpec, Leg, account_create, entries_post_batch, entry_post
from ledger.verification import ledger_problems
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.rls import rls_context

ACCOUNTS = 2000
SECONDS = 5.0
BATCH = int(os.environ.get("BENCH_LEDGER_BATCH", "500"))  # entries per batch transaction
_ids = iter(range(10**12))


def _seed() -> tuple[Tenant, list[int], int, int]:
    from platform_core.accounts.models import User

    tenant = Tenant.objects.create(slug="bench", name="Bench", timezone="UTC", base_currency="USD")
    users = User.objects.bulk_create(User(email=f"b{n}@bench.example") for n in range(ACCOUNTS))
    with rls_context(tenant=tenant):
        members = Membership.objects.bulk_create(
            Membership(tenant=tenant, user=u, role="client") for u in users
        )
        bank = account_create(tenant=tenant, kind="custodian_bank", currency="USD")
        fees = account_create(tenant=tenant, kind="fee_income", currency="USD")
        # One insert (account_create audits each opening; 2,000 of them only slow the seed).
        rule = ACCOUNT_KINDS["client_cash"]
        clients = [
            a.pk
            for a in LedgerAccount.objects.bulk_create(
                LedgerAccount(
                    tenant=tenant,
                    kind="client_cash",
                    currency="USD",
                    owner=m,
                    normal_side=rule.normal_side,
                    money_class=rule.money_class,
                    may_go_negative=rule.may_go_negative,
                )
                for m in members
            )
        ]
        specs = [
            EntrySpec(
                "deposit",
                [
                    Leg(bank.pk, Side.DEBIT, Decimal("1000000")),
                    Leg(c, Side.CREDIT, Decimal("1000000")),
                ],
                f"seed-{c}",
            )
            for c in clients
        ]
        for start in range(0, len(specs), 500):
            entries_post_batch(tenant=tenant, entries=specs[start : start + 500])
    return tenant, clients, bank.pk, fees.pk


def _legs(rng: random.Random, clients: list[int], fees: int, hot: bool) -> tuple[str, list[Leg]]:
    amount = Decimal(rng.randint(1, 500)) / 100
    if hot:
        return "fee", [Leg(rng.choice(clients), Side.DEBIT, amount), Leg(fees, Side.CREDIT, amount)]
    debit, credit = rng.sample(clients, 2)
    return "transfer", [Leg(debit, Side.DEBIT, amount), Leg(credit, Side.CREDIT, amount)]


def _service(tenant: Tenant, rng: random.Random, clients: list[int], fees: int, hot: bool) -> int:
    """The service called on its own (a task, a bank notice): one statement, its own commit."""
    entry_type, legs = _legs(rng, clients, fees, hot)
    entry_post(tenant=tenant, entry_type=entry_type, legs=legs, idempotency_key=f"b{next(_ids)}")
    return 1


def _nested(tenant: Tenant, rng: random.Random, clients: list[int], fees: int, hot: bool) -> int:
    """The service inside a caller's transaction and tenant context, as the API calls it."""
    entry_type, legs = _legs(rng, clients, fees, hot)
    with rls_context(tenant=tenant):
        entry_post(
            tenant=tenant, entry_type=entry_type, legs=legs, idempotency_key=f"b{next(_ids)}"
        )
    return 1


def _batch(tenant: Tenant, rng: random.Random, clients: list[int], fees: int, hot: bool) -> int:
    specs = []
    for _ in range(BATCH):
        entry_type, legs = _legs(rng, clients, fees, hot)
        specs.append(EntrySpec(entry_type, legs, f"b{next(_ids)}"))
    with rls_context(tenant=tenant):
        entries_post_batch(tenant=tenant, entries=specs)
    return BATCH


def _sharded(tenant: Tenant, rng: random.Random, clients: list[int], fees: int, hot: bool) -> int:
    """The batch path, each writer between its own slice of the client accounts (``_run``), as
    a job split by account would: concurrent batches then never wait for each other's locks."""
    return _batch(tenant, rng, clients, fees, hot)


def _naive(tenant: Tenant, rng: random.Random, clients: list[int], fees: int, hot: bool) -> int:
    """The baseline: the ORM, one save() per row, the balance checked in Python."""
    entry_type, legs = _legs(rng, clients, fees, hot)
    with rls_context(tenant=tenant):
        accounts = {
            a.pk: a
            for a in LedgerAccount.objects.select_for_update()
            .filter(pk__in=[leg.account_id for leg in legs])
            .order_by("pk")
        }
        entry = JournalEntry(
            tenant=tenant, entry_type=entry_type, idempotency_key=f"b{next(_ids)}", request_hash="-"
        )
        entry.save()
        with connection.cursor() as cursor:  # the journal admits legs only for an open entry
            cursor.execute("SELECT set_config('ledger.open_entry', %s, true)", [str(entry.pk)])
        for leg in legs:
            account = accounts[leg.account_id]
            field = "posted_debits" if leg.side == Side.DEBIT else "posted_credits"
            setattr(account, field, getattr(account, field) + leg.amount)
            if not account.may_go_negative and account.available < 0:
                raise RuntimeError("insufficient funds")
            account.save(update_fields=[field])
            Posting(
                tenant=tenant,
                entry=entry,
                account=account,
                side=leg.side,
                amount=leg.amount,
                currency="USD",
                balance_after=account.balance,
            ).save()
    return 1


def _run(
    name: str,
    operation: Callable[..., int],
    writers: int,
    hot: bool,
    context: tuple[Tenant, list[int], int, int],
) -> None:
    tenant, clients, _bank, fees = context
    latencies: list[float] = []
    counts = [0] * writers
    stop = time.monotonic() + SECONDS
    lock = threading.Lock()

    database_cpu = [0.0] * writers

    def mine_of(n: int) -> list[int]:
        return clients[n::writers] if operation is _sharded else clients

    def work(n: int) -> None:
        rng = random.Random(n * 7919 + hot)
        mine: list[float] = []
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        cpu = backend_cpu(pid)
        try:
            while time.monotonic() < stop:
                started = time.perf_counter()
                counts[n] += operation(tenant, rng, mine_of(n), fees, hot)
                mine.append(time.perf_counter() - started)
        finally:
            database_cpu[n] = backend_cpu(pid) - cpu
            connections.close_all()
            with lock:
                latencies.extend(mine)

    started = time.monotonic()
    python_cpu = time.process_time()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    python_cpu = time.process_time() - python_cpu

    latencies.sort()
    total = sum(counts)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000
    unit = "per batch" if operation in (_batch, _sharded) else "per entry"
    print(
        f"{name:<8} {writers} {'hot ' if hot else 'cold'} "
        f"{total / elapsed:7.0f} entries/s {2 * total / elapsed:7.0f} postings/s  "
        f"p50 {p50:7.2f} p99 {p99:7.2f} ms {unit:<9}  CPU per entry: "
        f"db {1000 * sum(database_cpu) / total:5.2f} ms, python {1000 * python_cpu / total:5.2f} ms"
    )


CASES = {
    "naive": _naive,
    "service": _service,
    "nested": _nested,
    "batch": _batch,
    "sharded": _sharded,
}


def run(args: list[str]) -> None:
    """All cases by default; ``PATH[:WRITERS[:hot|cold]] ...`` picks some (``service:4:cold``).

    ``profile [ENTRIES]`` instead shows where the time of one entry goes (``bench.ledger_profile``).
    """
    if args[:1] == ["profile"]:
        from bench import ledger_profile

        listeners = list(entry_committed._listeners)
        for listener in listeners:
            entry_committed.disconnect(listener)
        ledger_profile.run(args[1:], _seed(), listeners)
        return
    wanted = []
    for arg in args:
        path, _, rest = arg.partition(":")
        if path not in CASES:
            raise SystemExit(
                f"unknown case {arg!r}: one of {', '.join(CASES)}[:WRITERS[:hot|cold]]"
            )
        writers, _, heat = rest.partition(":")
        for hot in (False, True) if not heat else (heat == "hot",):
            wanted.append((path, int(writers or 4), hot))
    if not wanted:
        wanted = [
            (path, writers, hot)
            for hot in (False, True)
            for writers in (1, 4, 8)
            for path in ("naive", "service", "nested")
        ] + [
            (path, writers, hot)
            for path in ("batch", "sharded")
            for hot in (False, True)
            for writers in (1, 4, 8)
            if path == "batch" or (writers > 1 and not hot)
        ]
        wanted.sort(key=lambda case: case[2])
    with connection.cursor() as cursor:
        settings = {}
        for name in (
            "server_version",
            "fsync",
            "synchronous_commit",
            "wal_sync_method",
            "full_page_writes",
            "commit_delay",
            "shared_buffers",
            "wal_level",
        ):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    print("PostgreSQL", ", ".join(f"{k}={v}" for k, v in settings.items()))
    print(f"{ACCOUNTS} client accounts, {SECONDS:.0f} s per case, batch path {BATCH} entries/txn")
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average {load} on {os.cpu_count()} CPUs")
    # Other apps' after-commit listeners (KYC monitoring, margin calls) run in the writer's
    # thread and cost more than the posting; the profile measures them apart.
    listeners = list(entry_committed._listeners)
    for listener in listeners:
        entry_committed.disconnect(listener)
    print(f"entry_committed listeners detached: {len(listeners)}\n")
    context = _seed()
    for path, writers, hot in wanted:
        _run(path, CASES[path], writers, hot, context)
    with rls_context(tenant=context[0]):
        problems = ledger_problems(tenant=context[0])
        entries = JournalEntry.objects.count()
    verdict = "all hold" if not problems else problems[:3]
    print(f"\n{entries} entries in the journal; invariants: {verdict}")
