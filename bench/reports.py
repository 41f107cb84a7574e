"""Reports: a journal report over 100,000 postings, rendered, signed, stored; time, peak memory.

The seed posts 500 deposit batches, each an entry debiting the custodian bank once and crediting
200 client accounts (100,000+ postings), through the ledger's batch path, and seals them. Then
``manage.py report_generate --type journal`` runs in a fresh process, as an operator would
run it: build (totals by account and day, exceptions, the full postings CSV), WeasyPrint, the
PAdES signature, the manifest, the append-only store and the files on disk. Its wall time and
peak resident memory (``ru_maxrss`` of the child) are the figures; the target is 60 s and
1 GiB. All entries carry the seed's date, since the journal stamps entries with the database's
own clock.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ledger.rules import Side
from ledger.services import EntrySpec, Leg, account_create, entries_post_batch, journal_seal
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.owner import owner_connection
from platform_core.tenancy.rls import rls_context

POSTINGS = 100_000
CLIENTS = 200
BATCH = 20


def _seed() -> Tenant:
    from ledger.hooks import entry_committed
    from platform_core.accounts.models import User

    # The seed is not what is measured: committed-entry listeners (KYC's transaction
    # monitoring) would run on every seeded entry.
    for listener in list(entry_committed._listeners):
        entry_committed.disconnect(listener)

    tenant = Tenant.objects.create(
        slug="bench-reports", name="Bench Reports", timezone="Asia/Shanghai", base_currency="USD"
    )
    users = User.objects.bulk_create(User(email=f"r{n}@bench.example") for n in range(CLIENTS))
    with rls_context(tenant=tenant):
        members = Membership.objects.bulk_create(
            Membership(tenant=tenant, user=u, role="client") for u in users
        )
        bank = account_create(tenant=tenant, kind="custodian_bank", currency="USD").pk
        clients = [
            account_create(tenant=tenant, kind="client_cash", currency="USD", owner_id=m.pk).pk
            for m in members
        ]
    # Daily deposit batches: one entry per batch, the bank debited once and each client
    # credited (200 postings an entry), so the ledger's commit-time balance check runs once
    # per entry rather than once per posting pair.
    legs_per_entry = CLIENTS + 1
    entries = POSTINGS // legs_per_entry + 1
    started = time.perf_counter()
    for start in range(0, entries, BATCH):
        specs = []
        for n in range(start, min(start + BATCH, entries)):
            credits = [
                Leg(client, Side.CREDIT, Decimal((n * 31 + i) % 9973 + 1) / 100)
                for i, client in enumerate(clients)
            ]
            total = sum((leg.amount for leg in credits), Decimal(0))
            specs.append(
                EntrySpec("deposit", [Leg(bank, Side.DEBIT, total), *credits], f"bench-{n}")
            )
        with rls_context(tenant=tenant):
            entries_post_batch(tenant=tenant, entries=specs)
        print(
            f"  seeded {min(start + BATCH, entries) * legs_per_entry:,} postings "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    with rls_context(tenant=tenant):
        while journal_seal(tenant=tenant, batch=5000):
            pass
    # As autovacuum would have by the time anyone asks for a report: planner statistics.
    with owner_connection(), connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE ledger_posting, ledger_journalentry, ledger_ledgeraccount, ledger_entryseal"
        )
    return tenant


def _child_environment() -> dict[str, str]:
    """The benchmark's own database (the test database bench/__main__ made), as the app role."""
    db = connection.settings_dict
    env = dict(os.environ)
    url = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    owner = settings.DATABASE_OWNER
    owner_url = (
        f"postgresql://{owner['USER']}@{owner.get('HOST') or '127.0.0.1'}:"
        f"{owner.get('PORT') or 5432}/{db['NAME']}"
    )
    env.update(
        DATABASE_URL=url,
        DATABASE_OWNER_URL=owner_url,
        DATABASE_REPORTING_URL=url,
        DJANGO_SETTINGS_MODULE="platform_core.settings.test",
        PLATFORM_VAR_DIR=str(settings.VAR_DIR),
    )
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


def run(args: list[str]) -> None:
    started = time.perf_counter()
    tenant = _seed()
    print(
        f"seed: {POSTINGS:,}+ postings, {CLIENTS} client accounts, sealed, "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    day = timezone.localdate(timezone=__import__("zoneinfo").ZoneInfo(tenant.timezone))
    with tempfile.TemporaryDirectory() as out_dir:
        out = Path(out_dir) / "journal.pdf"
        command = [
            sys.executable,
            "manage.py",
            "report_generate",
            "--tenant",
            tenant.slug,
            "--type",
            "journal",
            "--from",
            day.isoformat(),
            "--to",
            day.isoformat(),
            "--out",
            str(out),
        ]
        started = time.perf_counter()
        result = subprocess.run(
            command, env=_child_environment(), capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if result.returncode != 0:
            print(result.stdout[-2000:], result.stderr[-4000:])
            raise SystemExit("report_generate failed")
        sizes = {p.name: p.stat().st_size for p in Path(out_dir).iterdir()}
    print(f"command: {' '.join(command[1:])}")
    for name, size in sorted(sizes.items()):
        print(f"  {name:<40} {size:>12,} bytes")
    verdict_time = "ok" if seconds <= 60 else "OVER the 60 s target"
    verdict_memory = "ok" if peak_kib <= 1024 * 1024 else "OVER the 1 GiB target"
    print(
        f"journal report, {POSTINGS:,} postings: {seconds:.1f} s ({verdict_time}), "
        f"peak RSS {peak_kib / 1024:.0f} MiB ({verdict_memory})"
    )
