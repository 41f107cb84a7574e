"""Where the time of one posted entry goes: ``python -m bench ledger profile [ENTRIES]``.

Each step posts the same kind of entry (a two-leg client-to-client transfer) and reports the
CPU time per entry of the posting backend (read from ``/proc/<pid>/stat``: load on a shared
machine distorts it far less than wall time) and, where Python is involved, of this process.

- ``service``: ``entry_post`` outside a transaction, as a task calls it (one statement that
  commits): Python + database + commit; first with the other apps' ``entry_committed``
  listeners (they run in the writer's thread after the commit), then without.
- ``batch``: ``entries_post_batch`` with 100 entries per call (one transaction each).
- ``raw``: the same statement sent without the service (what the service adds is the
  difference).
- ``one txn``: the calls inside one transaction, committed at the end (the commit's share is the
  difference with ``raw``; its flush shows in wall time only).
- With a superuser connection (``LEDGER_PROFILE_SUPERUSER=postgresql://postgres@host:port``),
  in transactions that are rolled back, the same calls with the deferred checks made at once
  and then without triggers, without foreign keys, or without the duplicate indexes
  (``SET CONSTRAINTS ALL IMMEDIATE``; ``ALTER TABLE … DISABLE TRIGGER``; ``DROP INDEX``).
- A commit floor: an INSERT of one row and a COMMIT, in a loop, on a scratch table.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
from django.db import connection

from ledger.hooks import entry_committed
from ledger.rules import Side
from ledger.services import EntrySpec, Leg, entries_post_batch, entry_post, request_hash
from platform_core.tenancy.models import Tenant
from platform_core.tenancy.rls import rls_context

TICKS = os.sysconf("SC_CLK_TCK")
WRITE = "SELECT ledger_entry_write(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
_keys = iter(range(10**12))


def backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a PostgreSQL backend (same machine)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def measured(label: str, pid: int, entries: int) -> Iterator[None]:
    cpu, own, wall = backend_cpu(pid), time.thread_time(), time.perf_counter()
    yield
    wall = time.perf_counter() - wall
    own = time.thread_time() - own
    cpu = backend_cpu(pid) - cpu
    print(
        f"  {label:<44} db CPU {1000 * cpu / entries:6.3f} ms  python CPU "
        f"{1000 * own / entries:6.3f} ms  wall {1000 * wall / entries:6.3f} ms  per entry"
    )


def _arguments(tenant_id: int, rng: random.Random, clients: list[int]) -> list[Any]:
    amount = Decimal(rng.randint(1, 500)) / 100
    debit, credit = rng.sample(clients, 2)
    legs = [Leg(debit, Side.DEBIT, amount), Leg(credit, Side.CREDIT, amount)]
    return [
        tenant_id,
        "transfer",
        "",
        f"p{next(_keys)}",
        request_hash(entry_type="transfer", memo="", legs=legs),
        None,
        "",
        None,
        [debit, credit],
        ["debit", "credit"],
        [amount, amount],
    ]


def _django_steps(
    tenant: Tenant, clients: list[int], entries: int, listeners: list[Callable[..., None]]
) -> None:
    rng = random.Random(1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def service() -> None:
        for _ in range(entries):
            amount = Decimal(rng.randint(1, 500)) / 100
            debit, credit = rng.sample(clients, 2)
            entry_post(
                tenant=tenant,
                entry_type="transfer",
                legs=[Leg(debit, Side.DEBIT, amount), Leg(credit, Side.CREDIT, amount)],
                idempotency_key=f"p{next(_keys)}",
            )

    print("As the application role (Django's connection):")
    for listener in listeners:
        entry_committed.connect(listener)
    with measured(f"service, with the {len(listeners)} entry listeners", pid, entries):
        service()
    for listener in listeners:
        entry_committed.disconnect(listener)
    with measured("service: entry_post, its own commit", pid, entries):
        service()
    with measured("batch: entries_post_batch, 100 per call", pid, entries):
        for _ in range(entries // 100):
            batch = []
            for _ in range(100):
                amount = Decimal(rng.randint(1, 500)) / 100
                debit, credit = rng.sample(clients, 2)
                legs = [Leg(debit, Side.DEBIT, amount), Leg(credit, Side.CREDIT, amount)]
                batch.append(EntrySpec("transfer", legs, f"p{next(_keys)}"))
            with rls_context(tenant=tenant):
                entries_post_batch(tenant=tenant, entries=batch)
    calls = [_arguments(tenant.pk, rng, clients) for _ in range(entries)]
    with measured("raw: the function alone, its own commit", pid, entries):
        with connection.cursor() as cursor:
            for arguments in calls:
                cursor.execute(WRITE, arguments)
    calls = [_arguments(tenant.pk, rng, clients) for _ in range(entries)]
    with measured("one txn: the function, one commit for all", pid, entries):
        with connection.cursor() as cursor:
            cursor.execute("BEGIN")
            for arguments in calls:
                cursor.execute(WRITE, arguments)
            cursor.execute("COMMIT")


DUPLICATE_INDEXES = """
SELECT i.indexrelid::regclass::text FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relname IN ('ledger_posting', 'ledger_journalentry') AND NOT i.indisunique
  AND EXISTS (SELECT 1 FROM pg_index o WHERE o.indrelid = i.indrelid
              AND o.indexrelid <> i.indexrelid AND o.indnatts > i.indnatts
              AND (o.indkey::int2[])[0:i.indnatts - 1] = (i.indkey::int2[])[0:i.indnatts - 1])
"""


def _superuser_steps(url: str, tenant_id: int, clients: list[int], entries: int) -> None:
    rng = random.Random(2)
    variants: list[tuple[str, Callable[[Any], None]]] = [
        ("deferred checks at once (the reference)", lambda cur: None),
        ("without user triggers (balanced, legs join)", _disable("USER")),
        ("without any trigger (also the foreign keys)", _disable("ALL")),
        ("without the duplicate indexes", _drop_duplicates),
    ]
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        pid = conn.info.backend_pid
        cur.execute(DUPLICATE_INDEXES)
        print("Duplicate indexes (a prefix of another):", [r[0] for r in cur.fetchall()])
        print("As a superuser, in transactions rolled back (row security off), twice each:")
        for _round in range(2):
            for label, prepare in variants:
                calls = [_arguments(tenant_id, rng, clients) for _ in range(entries)]
                cur.execute("BEGIN")
                prepare(cur)
                with measured(label, pid, entries):
                    for arguments in calls:
                        cur.execute(WRITE, arguments)
                        # The checks deferred to commit, made now (they would not run at all
                        # in a transaction that is rolled back).
                        cur.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")
                cur.execute("ROLLBACK")
        cur.execute("CREATE TEMP TABLE commit_floor (n bigint)")
        with measured("commit floor: INSERT one row + COMMIT", pid, entries):
            for n in range(entries):
                cur.execute("INSERT INTO commit_floor VALUES (%s)", [n])
        cur.execute("CREATE TABLE IF NOT EXISTS ledger_profile_commit_floor (n bigint)")
        with measured("commit floor, a logged table", pid, entries):
            for n in range(entries):
                cur.execute("INSERT INTO ledger_profile_commit_floor VALUES (%s)", [n])
        cur.execute("DROP TABLE ledger_profile_commit_floor")


def _disable(which: str) -> Callable[[Any], None]:
    def prepare(cur: Any) -> None:
        for table in ("ledger_posting", "ledger_journalentry", "ledger_ledgeraccount"):
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {which}")

    return prepare


def _drop_duplicates(cur: Any) -> None:
    cur.execute(DUPLICATE_INDEXES)
    for (index,) in cur.fetchall():
        cur.execute(f"DROP INDEX {index}")


def run(
    args: list[str],
    context: tuple[Tenant, list[int], int, int],
    listeners: list[Callable[..., None]],
) -> None:
    entries = int(args[0]) if args else 1000
    tenant, clients, _bank, _fees = context
    print(f"Profile of one entry, {entries} entries per step\n")
    _django_steps(tenant, clients, entries, listeners)
    superuser = os.environ.get("LEDGER_PROFILE_SUPERUSER")
    if not superuser:
        print("(set LEDGER_PROFILE_SUPERUSER for the trigger, index and commit steps)")
        return
    url = f"{superuser.rstrip('/')}/{connection.settings_dict['NAME']}"
    _superuser_steps(url, tenant.pk, clients, entries)
