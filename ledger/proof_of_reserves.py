"""Proof of reserves: snapshots of client liabilities as Merkle sum trees, their published
roots, and each client's inclusion proof (../shared/contracts/proof-of-reserves.md).

A snapshot reads every ``client_cash`` balance and the ``custodian_bank`` balance of a tenant
in one SQL statement, so all of them are as of one instant (PostgreSQL gives a statement one
view of committed data) and ``taken_at`` is that statement's own timestamp. Each currency gets
its own tree; leaves are shuffled per snapshot and every client gets a fresh 32-byte salt, so
neither the position nor the commitment of a leaf says whose it is.
"""

from __future__ import annotations

import logging
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.http import Http404

from ledger import merkle
from ledger.models import LedgerAccount, ReserveLeaf, ReserveSnapshot
from ledger.rules import ACCOUNT_KINDS, Side, minor_units
from platform_core.audit.services import audit_record
from platform_core.exceptions import ApplicationError
from platform_core.tenancy.models import Membership, Tenant

logger = logging.getLogger(__name__)

CLIENT_CASH = "client_cash"
CUSTODIAN_BANK = "custodian_bank"
_POR_LOCK_CLASS = 0x4C504F52  # "LPOR": one snapshot per tenant at a time, so ids stay unique
_SHUFFLE = secrets.SystemRandom()
NOT_FOUND = "No proof of reserves for you in this snapshot and currency."


# --- amounts ------------------------------------------------------------------------------


def _minor_units_of(amount: Decimal, *, currency: str, account_id: int) -> int:
    """A ledger amount as an integer count of the currency's minor unit (cents, fen)."""
    scaled = amount.scaleb(minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise ApplicationError(
            422,
            "balance_not_in_minor_units",
            f"Account {account_id} holds {amount} {currency}, finer than the currency's "
            "minor unit; it cannot be a leaf.",
        )
    return int(scaled)


def _money(units: int, currency: str) -> str:
    return f"{Decimal(units).scaleb(-minor_units(currency)):,f} {currency}"


def por_statement(*, currency: str, total_liabilities: int, reserves: int) -> str:
    """The report's sentence on cover: whether reserves reach the liabilities, in words."""
    if reserves >= total_liabilities:
        return (
            f"Reserves of {_money(reserves, currency)} at the custodian bank cover total "
            f"client liabilities of {_money(total_liabilities, currency)}."
        )
    return (
        f"Reserves of {_money(reserves, currency)} at the custodian bank are LESS than total "
        f"client liabilities of {_money(total_liabilities, currency)}: a shortfall of "
        f"{_money(total_liabilities - reserves, currency)}."
    )


# --- taking a snapshot --------------------------------------------------------------------


@dataclass(frozen=True)
class _Balances:
    cut_off: datetime
    clients: dict[str, list[tuple[int, int]]]  # currency -> [(account id, minor units)]
    reserves: dict[str, int]  # currency -> custodian bank balance in minor units


def _balances_at_one_instant(*, tenant: Tenant, currency: str | None) -> _Balances:
    accounts = LedgerAccount.objects.filter(tenant=tenant, kind__in=(CLIENT_CASH, CUSTODIAN_BANK))
    if currency:
        accounts = accounts.filter(currency=currency)
    # One statement: every balance and the cut-off instant come from the same view of the data.
    rows = list(
        accounts.annotate(cut_off=RawSQL("statement_timestamp()", ()))
        .order_by("pk")
        .values_list("pk", "kind", "currency", "posted_debits", "posted_credits", "cut_off")
    )
    clients: dict[str, list[tuple[int, int]]] = {}
    reserves: dict[str, int] = {}
    for pk, kind, code, debits, credits, _ in rows:
        balance = (
            credits - debits if ACCOUNT_KINDS[kind].normal_side == Side.CREDIT else debits - credits
        )
        units = _minor_units_of(balance, currency=code, account_id=pk)
        if kind == CLIENT_CASH:
            clients.setdefault(code, []).append((pk, units))
        else:
            reserves[code] = units
    if not clients:
        where = f" in {currency}" if currency else ""
        raise ApplicationError(
            422, "no_client_accounts", f"This tenant has no client_cash accounts{where}."
        )
    return _Balances(cut_off=rows[0][5], clients=clients, reserves=reserves)


@dataclass(frozen=True)
class _Placed:
    leaf: merkle.Leaf
    account_id: int | None
    salt: str


def _tree_of(balances: list[tuple[int, int]]) -> tuple[merkle.SumTree, list[_Placed]]:
    """Salted, padded, shuffled leaves and their tree."""
    placed = []
    for account_id, units in balances:
        salt = secrets.token_bytes(merkle.SALT_BYTES)
        commitment = merkle.commitment_of(salt=salt, account_ref=str(account_id))
        try:
            leaf = merkle.Leaf(commitment, units)
        except merkle.MerkleError as refusal:
            raise ApplicationError(
                422,
                "liability_not_a_leaf",
                f"client_cash account {account_id} cannot be a leaf: {refusal}.",
            ) from None
        placed.append(_Placed(leaf, account_id, salt.hex()))
    padded = merkle.leaves_pad([p.leaf for p in placed])
    placed += [_Placed(leaf, None, "") for leaf in padded[len(placed) :]]
    # Padding is shuffled in too, so no index range gives away how many clients there are.
    _SHUFFLE.shuffle(placed)
    try:
        tree = merkle.SumTree([p.leaf for p in placed])
    except merkle.MerkleError as refusal:
        raise ApplicationError(422, "liabilities_overflow", str(refusal)) from None
    return tree, placed


def _snapshot_id_for(*, tenant: Tenant, cut_off: datetime, daily: bool) -> str:
    if daily:
        return business_date_of(tenant=tenant, at=cut_off)
    taken = ReserveSnapshot.objects.filter(tenant=tenant).values("snapshot").distinct().count()
    return f"{cut_off.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}-{taken + 1}"


def business_date_of(*, tenant: Tenant, at: datetime) -> str:
    return at.astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date().isoformat()


def por_snapshot_take(
    *,
    tenant: Tenant,
    currency: str | None = None,
    actor: Any = None,
    actor_label: str = "",
    daily: bool = False,
) -> str:
    """Take a snapshot now, one tree per currency (or only ``currency``); return its id.

    ``daily``: the business day's snapshot, named by the tenant's business date
    ("2026-11-26") and taken at most once per date, so a retried task returns the same id.
    Otherwise the id is the cut-off instant and the tenant's snapshot count
    ("2026-11-26T15:04:05Z-3").
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_POR_LOCK_CLASS, tenant.pk])
        balances = _balances_at_one_instant(tenant=tenant, currency=currency)
        snapshot_id = _snapshot_id_for(tenant=tenant, cut_off=balances.cut_off, daily=daily)
        if daily and ReserveSnapshot.objects.filter(tenant=tenant, snapshot=snapshot_id).exists():
            return snapshot_id
        trees = []
        for code in sorted(balances.clients):
            tree, placed = _tree_of(balances.clients[code])
            row = ReserveSnapshot.objects.create(
                tenant=tenant,
                snapshot=snapshot_id,
                currency=code,
                taken_at=balances.cut_off,
                leaf_count=tree.leaf_count,
                root_hash=tree.root.hash.hex(),
                total_liabilities=tree.root.sum,
                reserves=balances.reserves.get(code, 0),
                actor=actor if getattr(actor, "pk", None) else None,
            )
            ReserveLeaf.objects.bulk_create(
                [
                    ReserveLeaf(
                        tenant=tenant,
                        snapshot=row,
                        index=index,
                        account_id=p.account_id,
                        salt=p.salt,
                        commitment=p.leaf.commitment.hex(),
                        balance=p.leaf.balance,
                    )
                    for index, p in enumerate(placed)
                ],
                batch_size=2000,
            )
            trees.append(por_root_document(row, tenant=tenant))
        audit_record(
            tenant=tenant,
            actor=actor,
            actor_label=actor_label,
            action="ledger.por_snapshot_taken",
            object_type="reserve_snapshot",
            object_id=snapshot_id,
            payload={"trees": trees},
        )
    return snapshot_id


# --- reading: the published roots and the clients' proofs -----------------------------------


def por_snapshot_list(*, tenant: Tenant) -> QuerySet[ReserveSnapshot]:
    """Every tree of the tenant, newest snapshot first."""
    return ReserveSnapshot.objects.filter(tenant=tenant).order_by("-taken_at", "-pk")


def por_snapshots_provable(
    *, tenant: Tenant, membership: Membership, snapshots: list[ReserveSnapshot]
) -> set[int]:
    """Which of these trees hold a leaf of the membership's own accounts."""
    return set(
        ReserveLeaf.objects.filter(
            tenant=tenant, snapshot__in=snapshots, account__owner=membership
        ).values_list("snapshot_id", flat=True)
    )


def por_snapshot_get(*, tenant: Tenant, snapshot: str, currency: str | None) -> ReserveSnapshot:
    """One tree; ``currency`` may be left out when the snapshot has only one."""
    rows = list(ReserveSnapshot.objects.filter(tenant=tenant, snapshot=snapshot).order_by("pk"))
    if not rows:
        raise Http404(NOT_FOUND)
    if currency:
        row = next((r for r in rows if r.currency == currency.upper()), None)
        if row is None:
            raise Http404(NOT_FOUND)
        return row
    if len(rows) > 1:
        currencies = ", ".join(r.currency for r in rows)
        raise ApplicationError(
            400,
            "invalid",
            "The request has invalid fields.",
            {"currency": [f"This snapshot has a tree per currency; choose one of {currencies}."]},
        )
    return rows[0]


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def por_root_document(row: ReserveSnapshot, *, tenant: Tenant) -> dict[str, Any]:
    """The published root (the contract's keys), and the report's sentence on cover."""
    total, reserves = int(row.total_liabilities), int(row.reserves)
    return {
        "snapshot": row.snapshot,
        "tenant": tenant.slug,
        "currency": row.currency,
        "taken_at": _timestamp(row.taken_at),
        "leaf_count": row.leaf_count,
        "root_hash": row.root_hash,
        "total_liabilities": total,
        "reserves": reserves,
        "statement": por_statement(
            currency=row.currency, total_liabilities=total, reserves=reserves
        ),
    }


def por_root(*, tenant: Tenant, snapshot: str, currency: str | None = None) -> dict[str, Any]:
    row = por_snapshot_get(tenant=tenant, snapshot=snapshot, currency=currency)
    return por_root_document(row, tenant=tenant)


def por_roots(*, tenant: Tenant, snapshot: str) -> list[dict[str, Any]]:
    """The published roots of every currency of one snapshot, by currency."""
    rows = ReserveSnapshot.objects.filter(tenant=tenant, snapshot=snapshot).order_by("currency")
    return [por_root_document(row, tenant=tenant) for row in rows]


def por_proof_for(
    *, tenant: Tenant, snapshot: str, membership: Membership, currency: str | None = None
) -> dict[str, Any]:
    """The membership's own inclusion proof in one tree (the contract's JSON).

    No client_cash account of theirs in that currency, or none in the snapshot (opened
    later), is the same 404 as a missing snapshot. The proof is verified against the stored
    root before it is handed out, so a damaged snapshot is refused rather than served.
    """
    row = por_snapshot_get(tenant=tenant, snapshot=snapshot, currency=currency)
    leaf = (
        ReserveLeaf.objects.filter(
            tenant=tenant,
            snapshot=row,
            account__kind=CLIENT_CASH,
            account__owner=membership,
            account__currency=row.currency,
        )
        .only("index", "account_id", "salt", "balance")
        .first()
    )
    if leaf is None:
        raise Http404(NOT_FOUND)
    stored = ReserveLeaf.objects.filter(tenant=tenant, snapshot=row).order_by("index")
    try:
        tree = merkle.SumTree(
            [
                merkle.Leaf(bytes.fromhex(commitment), int(balance))
                for commitment, balance in stored.values_list("commitment", "balance")
            ]
        )
        proof = {
            "snapshot": row.snapshot,
            "currency": row.currency,
            "account_ref": str(leaf.account_id),
            "salt": leaf.salt,
            "balance": int(leaf.balance),
            "index": leaf.index,
            "path": merkle.path_as_json(tree.path(leaf.index)),
            "root_hash": row.root_hash,
            "total_liabilities": int(row.total_liabilities),
        }
        merkle.proof_verify(proof, root=por_root_document(row, tenant=tenant))
    except ValueError as problem:  # a MerkleError, or stored text that is not hex
        logger.error("proof of reserves %s %s is damaged: %s", row.snapshot, row.currency, problem)
        raise ApplicationError(
            409,
            "por_snapshot_damaged",
            "This snapshot's stored tree no longer matches its published root; "
            "the platform has been alerted.",
        ) from None
    return proof
