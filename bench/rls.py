"""Row-level security: tenant-scoped reads and writes with and without the policies, same run.

Data: 40 tenants x 250 memberships (10,000 rows). Each phase runs the same operations as the
application role; between phases the owner switches the policies off and on (ABAB order, so
drift in the machine's speed does not favour one side). Reported: operations per second and
the overhead of the policies, plus the query plan of the indexed lookup under row security.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from decimal import Decimal

from django.db import connection, transaction

from ledger.services import account_create, transfer_post
from platform_core.accounts.models import User
from platform_core.api.models import IdempotencyRecord
from platform_core.tenancy.access import access_object_by_id
from platform_core.tenancy.models import Membership, Tenant
from platform_core.tenancy.owner import owner_connection
from platform_core.tenancy.rls import rls_context
from platform_core.tenancy.selectors import membership_list

TENANTS, MEMBERS = 40, 250
LEDGER: dict[int, tuple[int, int]] = {}  # tenant id -> (custodian bank, a client's cash)
OPERATIONS = 3000
TABLES = (
    "tenancy_membership",
    "api_idempotencyrecord",
    "ledger_ledgeraccount",
    "ledger_journalentry",
    "ledger_posting",
)


def _seed() -> list[tuple[Tenant, list[int]]]:
    tenants = []
    users = User.objects.bulk_create(
        User(email=f"user{n}@bench.example") for n in range(TENANTS * MEMBERS)
    )
    for t in range(TENANTS):
        tenant = Tenant.objects.create(
            slug=f"bench-{t}", name=f"Bench {t}", timezone="UTC", base_currency="USD"
        )
        with rls_context(tenant=tenant):
            members = Membership.objects.bulk_create(
                Membership(tenant=tenant, user=user, role="client" if n % 10 else "operations")
                for n, user in enumerate(users[t * MEMBERS : (t + 1) * MEMBERS])
            )
            bank = account_create(tenant=tenant, kind="custodian_bank", currency="USD")
            client = account_create(
                tenant=tenant, kind="client_cash", currency="USD", owner_id=members[1].pk
            )
            transfer_post(
                tenant=tenant,
                debit_account=bank.pk,
                credit_account=client.pk,
                amount=Decimal("1000000"),
                currency="USD",
                entry_type="deposit",
                idempotency_key="seed",
            )
        tenants.append((tenant, [m.pk for m in members]))
        LEDGER[tenant.pk] = (bank.pk, client.pk)
    return tenants


def _policies(enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    force = "FORCE" if enabled else "NO FORCE"
    with owner_connection(), connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"ALTER TABLE {table} {verb} ROW LEVEL SECURITY")
            cursor.execute(f"ALTER TABLE {table} {force} ROW LEVEL SECURITY")


def _rate(operation: Callable[[int], None]) -> float:
    started = time.perf_counter()
    for n in range(OPERATIONS):
        operation(n)
    return OPERATIONS / (time.perf_counter() - started)


def run(args: list[str]) -> None:
    tenants = _seed()
    rng = random.Random(7)
    picks = [rng.choice(tenants) for _ in range(OPERATIONS)]
    lookups = [(tenant, rng.choice(ids)) for tenant, ids in picks]
    write_round = iter(range(10**9))

    def read_by_id(n: int) -> None:
        tenant, member_id = lookups[n]
        with transaction.atomic(), rls_context(tenant=tenant):
            access_object_by_id(Membership, tenant=tenant, object_id=member_id)

    def read_page(n: int) -> None:
        tenant, _ = lookups[n]
        with transaction.atomic(), rls_context(tenant=tenant):
            list(membership_list(tenant=tenant, role="operations")[:25])

    def write(n: int) -> None:
        tenant, _ = lookups[n]
        with transaction.atomic(), rls_context(tenant=tenant):
            IdempotencyRecord.objects.create(
                tenant=tenant,
                key=f"bench-{next(write_round)}",
                operation="bench",
                request_fields={},
                status_code=201,
                response_body={},
            )

    def post_entry(n: int) -> None:
        tenant, _ = lookups[n]
        bank, client = LEDGER[tenant.pk]
        with transaction.atomic(), rls_context(tenant=tenant):
            transfer_post(
                tenant=tenant,
                debit_account=client,
                credit_account=bank,
                amount=Decimal("0.01"),
                currency="USD",
                entry_type="withdrawal",
                idempotency_key=f"bench-{next(write_round)}",
            )

    operations = {
        "read one by id": read_by_id,
        "read a page (25)": read_page,
        "write one row": write,
        "post a ledger entry": post_entry,
    }
    results: dict[str, dict[bool, list[float]]] = {
        name: {True: [], False: []} for name in operations
    }
    for enabled in (False, True, False, True):
        _policies(enabled)
        for name, operation in operations.items():
            results[name][enabled].append(_rate(operation))
    _policies(True)

    print(f"{TENANTS} tenants x {MEMBERS} memberships; {OPERATIONS} operations per phase, ABAB")
    print(f"{'operation':<20} {'without RLS':>12} {'with RLS':>12} {'overhead':>9}")
    for name, by_phase in results.items():
        without = sum(by_phase[False]) / 2
        with_rls = sum(by_phase[True]) / 2
        overhead = 100 * (without / with_rls - 1)
        print(f"{name:<20} {without:>10.0f}/s {with_rls:>10.0f}/s {overhead:>8.1f}%")

    tenant, member_id = lookups[0]
    with transaction.atomic(), rls_context(tenant=tenant), connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT * FROM tenancy_membership WHERE tenant_id = %s AND id = %s",
            [tenant.pk, member_id],
        )
        print("plan under RLS:", " / ".join(row[0].strip() for row in cursor.fetchall()))
