"""Proof of reserves: Acme's clients each check that what Acme owes them is in the published
total, and that the custodian bank holds at least that total.

The hashing is checked against an independent implementation written here from the contract's
text (../shared/contracts/proof-of-reserves.md), never against ``ledger.merkle`` itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.module_loading import import_string
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.models import LedgerAccount, ReserveLeaf, ReserveSnapshot
from ledger.proof_of_reserves import por_proof_for, por_root, por_snapshot_take
from ledger.services import account_create, transfer_post
from ledger.tasks import por_snapshot_task, por_snapshots_take_all_task
from platform_core.exceptions import ApplicationError
from platform_core.hooks import scheduled_tasks
from platform_core.tenancy.roles import Role
from tests.conftest import (
    Person,
    TenantPeople,
    api_token_for,
    as_tenant,
    make_person,
    sign_in,
)

ROOT_KEYS = {
    "snapshot",
    "tenant",
    "currency",
    "taken_at",
    "leaf_count",
    "root_hash",
    "total_liabilities",
    "reserves",
}
PROOF_KEYS = {
    "snapshot",
    "currency",
    "account_ref",
    "salt",
    "balance",
    "index",
    "path",
    "root_hash",
    "total_liabilities",
}


# --- an independent implementation of the contract's hashing --------------------------------


def sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def be16(value: int) -> bytes:
    return value.to_bytes(16, "big")


def leaf_of(commitment: bytes, balance: int) -> tuple[bytes, int]:
    return sha256(b"\x00", commitment, be16(balance)), balance


def parent_of(left: tuple[bytes, int], right: tuple[bytes, int]) -> tuple[bytes, int]:
    (lh, ls), (rh, rs) = left, right
    return sha256(b"\x01", lh, be16(ls), rh, be16(rs)), ls + rs


def root_of(leaves: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    level = [leaf_of(c, b) for c, b in leaves]
    while len(level) > 1:
        level = [parent_of(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def salt_for(name: str) -> bytes:
    return hashlib.sha256(b"salt:" + name.encode()).digest()


# --- the pure module -------------------------------------------------------------------------

PADDING = b"\xee" * 32


def fixed_padding(size: int) -> bytes:
    return PADDING[:size]


def three_clients_tree() -> merkle.SumTree:
    leaves = [
        merkle.Leaf(merkle.commitment_of(salt=salt_for(ref), account_ref=ref), balance)
        for ref, balance in (("1042", 1_250_000), ("1043", 330_000), ("1044", 0))
    ]
    return merkle.tree_build(leaves, random_bytes=fixed_padding)


def test_a_tree_of_three_balances_is_padded_to_four_and_hashes_as_the_contract_says():
    tree = three_clients_tree()

    commitments = [sha256(salt_for(ref), ref.encode()) for ref in ("1042", "1043", "1044")]
    alice, bob, carol = (
        leaf_of(commitments[0], 1_250_000),
        leaf_of(commitments[1], 330_000),
        leaf_of(commitments[2], 0),
    )
    padding = leaf_of(PADDING, 0)
    left, right = parent_of(alice, bob), parent_of(carol, padding)
    root = parent_of(left, right)

    assert tree.leaf_count == 4
    assert (tree.root.hash, tree.root.sum) == root
    assert tree.root.sum == 1_580_000
    # Carol (index 2) is a left child, then in the right half: her path is padding, then left.
    assert [(n.hash, n.sum) for n in tree.path(2)] == [padding, left]
    # A fixed vector for other implementations (salts above, padding commitment 0xee * 32).
    assert tree.root.hash.hex() == (
        "65a032e6acc003c9f3ef599aefd0096b2201db8a64cde021d283031c9bbee95e"
    )


def test_the_commitment_is_the_salted_account_reference_and_u128_is_16_big_endian_bytes():
    salt = salt_for("1042")
    assert merkle.commitment_of(salt=salt, account_ref="1042") == sha256(salt, b"1042")
    assert merkle.u128(1) == b"\x00" * 15 + b"\x01"
    assert merkle.u128(merkle.U128_MAX) == b"\xff" * 16
    with pytest.raises(merkle.MerkleError, match="32 bytes"):
        merkle.commitment_of(salt=b"short", account_ref="1042")


@pytest.mark.parametrize(
    ("balance", "problem"),
    [
        (-1, "must not be negative"),
        (-(10**9), "must not be negative"),
        (1.5, "integer"),
        (10.0, "integer"),
        (Decimal("10"), "integer"),
        ("10", "integer"),
        (True, "integer"),
        (2**128, "128-bit"),
    ],
)
def test_a_negative_non_integer_or_oversized_balance_cannot_be_a_leaf(balance, problem):
    with pytest.raises(merkle.MerkleError, match=problem):
        merkle.Leaf(b"\x01" * 32, balance)
    with pytest.raises(merkle.MerkleError, match=problem):
        merkle.u128(balance)


def test_sums_that_overflow_u128_are_refused():
    big = merkle.Leaf(b"\x01" * 32, 2**127)
    with pytest.raises(merkle.MerkleError, match="overflows"):
        merkle.tree_build([big, big])


def test_padding_commitments_are_random_and_their_sums_zero():
    tree = merkle.tree_build([merkle.Leaf(b"\x01" * 32, 5)] * 5)
    padding = tree.leaves[5:]
    assert tree.leaf_count == 8 and len(padding) == 3
    assert all(leaf.balance == 0 for leaf in padding)
    assert len({leaf.commitment for leaf in padding}) == 3
    assert tree.root.sum == 25


def _proof_of(tree: merkle.SumTree, index: int, ref: str) -> dict[str, Any]:
    return {
        "snapshot": "2026-11-26",
        "currency": "USD",
        "account_ref": ref,
        "salt": salt_for(ref).hex(),
        "balance": tree.leaves[index].balance,
        "index": index,
        "path": merkle.path_as_json(tree.path(index)),
        "root_hash": tree.root.hash.hex(),
        "total_liabilities": tree.root.sum,
    }


def _five_clients() -> tuple[merkle.SumTree, dict[str, Any], dict[str, Any]]:
    """Five clients padded to eight; the proof of the client at index 5, and the root."""
    refs = [str(1040 + i) for i in range(5)]
    balances = [100, 0, 7_100_000, 42, 1_250_000]
    leaves = [
        merkle.Leaf(merkle.commitment_of(salt=salt_for(r), account_ref=r), b)
        for r, b in zip(refs, balances, strict=True)
    ]
    # Put the client of interest at index 5 (a right child at level 0, left at 1, right at 2).
    padded = merkle.leaves_pad(leaves, random_bytes=fixed_padding)
    padded[4], padded[5] = padded[5], padded[4]
    tree = merkle.SumTree(padded)
    proof = _proof_of(tree, 5, refs[4])
    root = {
        "snapshot": "2026-11-26",
        "tenant": "acme",
        "currency": "USD",
        "taken_at": "2026-11-26T09:00:00Z",
        "leaf_count": 8,
        "root_hash": tree.root.hash.hex(),
        "total_liabilities": tree.root.sum,
        "reserves": tree.root.sum,
    }
    return tree, proof, root


def test_a_proof_verifies_against_its_root():
    tree, proof, root = _five_clients()
    assert len(proof["path"]) == 3
    node = merkle.proof_verify(proof, root=root)
    assert (node.hash, node.sum) == (tree.root.hash, 8_350_142)
    assert merkle.reserves_shortfall(root) == 0


def _flip(hex_text: str) -> str:
    return ("0" if hex_text[0] != "0" else "1") + hex_text[1:]


TAMPERINGS = {
    "balance raised": (lambda p, r: p.update(balance=p["balance"] + 1), "root hash mismatch"),
    "balance lowered": (lambda p, r: p.update(balance=p["balance"] - 1), "root hash mismatch"),
    "negative balance": (lambda p, r: p.update(balance=-1), "must not be negative"),
    "salt": (lambda p, r: p.update(salt=_flip(p["salt"])), "root hash mismatch"),
    "account_ref": (lambda p, r: p.update(account_ref="1041"), "root hash mismatch"),
    "path hash": (
        lambda p, r: p["path"][1].update(hash=_flip(p["path"][1]["hash"])),
        "root hash mismatch",
    ),
    "path sum": (lambda p, r: p["path"][0].update(sum=p["path"][0]["sum"] + 1), "mismatch"),
    "negative path sum": (lambda p, r: p["path"][2].update(sum=-5), "must not be negative"),
    "path step dropped": (lambda p, r: p["path"].pop(), "mismatch|outside"),
    "index low bit": (lambda p, r: p.update(index=p["index"] ^ 1), "root hash mismatch"),
    "index middle bit": (lambda p, r: p.update(index=p["index"] ^ 2), "root hash mismatch"),
    "index above the tree": (lambda p, r: p.update(index=p["index"] + 8), "outside a tree"),
    "root_hash": (lambda p, r: p.update(root_hash=_flip(p["root_hash"])), "root hash mismatch"),
    "total": (
        lambda p, r: p.update(total_liabilities=p["total_liabilities"] - 1),
        "total mismatch",
    ),
    "salt not hex": (lambda p, r: p.update(salt="zz" * 32), "hexadecimal"),
    "balance as text": (lambda p, r: p.update(balance=str(p["balance"])), "integer"),
    "missing path": (lambda p, r: p.pop("path"), "lacks path"),
    "another published root": (
        lambda p, r: r.update(root_hash=_flip(r["root_hash"])),
        "published root mismatch",
    ),
    "another published total": (
        lambda p, r: r.update(total_liabilities=r["total_liabilities"] + 1),
        "published total mismatch",
    ),
    "another snapshot": (lambda p, r: r.update(snapshot="2026-11-25"), "snapshot mismatch"),
    "another currency": (lambda p, r: r.update(currency="CNY"), "currency mismatch"),
    "another tree size": (lambda p, r: r.update(leaf_count=16), "leaf_count mismatch"),
}


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=list(TAMPERINGS))
def test_a_tampered_proof_is_rejected_naming_the_mismatch(tampering):
    _, proof, root = _five_clients()
    change, message = TAMPERINGS[tampering]
    change(proof, root)
    with pytest.raises(merkle.MerkleError, match=message):
        merkle.proof_verify(proof, root=root)


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**18), min_size=1, max_size=40))
def test_every_proof_of_any_tree_verifies_and_the_root_sum_is_the_total(balances):
    leaves = [
        merkle.Leaf(merkle.commitment_of(salt=salt_for(str(i)), account_ref=str(i)), b)
        for i, b in enumerate(balances)
    ]
    tree = merkle.tree_build(leaves)
    assert tree.root.sum == sum(balances)
    assert tree.leaf_count >= len(balances) and tree.leaf_count & (tree.leaf_count - 1) == 0
    assert (tree.root.hash, tree.root.sum) == root_of(
        [(leaf.commitment, leaf.balance) for leaf in tree.leaves]
    )
    for index in range(len(balances)):
        node = merkle.proof_verify(_proof_of(tree, index, str(index)))
        assert node == tree.root


# --- Acme's books ----------------------------------------------------------------------------


class Book:
    """Acme's USD client money: Alice (acme.client) 12,500.00, Bob 3,300.00, Carol 0."""

    def __init__(self, acme: TenantPeople) -> None:
        self.acme = acme
        self.tenant = acme.tenant
        self.bob = make_person(acme.tenant, "bob@acme.example", Role.CLIENT)
        self.carol = make_person(acme.tenant, "carol@acme.example", Role.CLIENT)
        self.custodian = account_create(tenant=self.tenant, kind="custodian_bank", currency="USD")
        self.alice_cash = self.open(acme.client)
        self.bob_cash = self.open(self.bob)
        self.carol_cash = self.open(self.carol)
        self.deposit(self.alice_cash, "12500.00")
        self.deposit(self.bob_cash, "3300.00")

    def open(self, person: Person, currency: str = "USD") -> LedgerAccount:
        return account_create(
            tenant=self.tenant,
            kind="client_cash",
            currency=currency,
            owner_id=person.membership.pk,
        )

    def deposit(self, account: LedgerAccount, amount: str, custodian: Any = None) -> None:
        transfer_post(
            tenant=self.tenant,
            debit_account=(custodian or self.custodian).pk,
            credit_account=account.pk,
            amount=Decimal(amount),
            currency=account.currency,
            entry_type="deposit",
            idempotency_key=f"deposit-{account.pk}-{amount}",
        )

    def lend(self, account: LedgerAccount, amount: str) -> None:
        """Money lent into client cash: a liability with no client money behind it."""
        loans = account_create(tenant=self.tenant, kind="loan_receivable", currency="USD")
        transfer_post(
            tenant=self.tenant,
            debit_account=loans.pk,
            credit_account=account.pk,
            amount=Decimal(amount),
            currency="USD",
            entry_type="loan_drawdown",
            idempotency_key=f"loan-{account.pk}",
        )


@pytest.fixture
def book(acme: TenantPeople) -> Book:
    return Book(acme)


def _stored_leaves(tenant: Any, snapshot: str, currency: str = "USD") -> list[ReserveLeaf]:
    return list(
        ReserveLeaf.objects.filter(
            tenant=tenant, snapshot__snapshot=snapshot, snapshot__currency=currency
        ).order_by("index")
    )


def test_a_snapshot_puts_every_client_balance_in_one_tree_with_the_total_and_the_reserves(book):
    snapshot = por_snapshot_take(tenant=book.tenant, actor=book.acme.operations.user)

    row = ReserveSnapshot.objects.get(tenant=book.tenant, snapshot=snapshot)
    leaves = _stored_leaves(book.tenant, snapshot)
    clients = {leaf.account_id: leaf for leaf in leaves if leaf.account_id}
    assert row.leaf_count == len(leaves) == 4
    # Carol's zero balance still has its leaf; one padding leaf completes the four.
    assert {a: int(leaf.balance) for a, leaf in clients.items()} == {
        book.alice_cash.pk: 1_250_000,
        book.bob_cash.pk: 330_000,
        book.carol_cash.pk: 0,
    }
    (padding,) = (leaf for leaf in leaves if leaf.account_id is None)
    assert padding.balance == 0 and padding.salt == ""
    assert int(row.total_liabilities) == sum(int(leaf.balance) for leaf in leaves) == 1_580_000
    assert int(row.reserves) == 1_580_000  # every deposit reached the custodian bank
    for account_id, leaf in clients.items():
        assert bytes.fromhex(leaf.commitment) == sha256(
            bytes.fromhex(leaf.salt), str(account_id).encode()
        )
    root_hash, total = root_of(
        [(bytes.fromhex(leaf.commitment), int(leaf.balance)) for leaf in leaves]
    )
    assert (row.root_hash, int(row.total_liabilities)) == (root_hash.hex(), total)

    root = por_root(tenant=book.tenant, snapshot=snapshot, currency="USD")
    assert ROOT_KEYS <= set(root) and set(root) - ROOT_KEYS == {"statement"}
    assert root["tenant"] == "acme" and root["taken_at"].endswith("Z")
    assert root["statement"] == (
        "Reserves of 15,800.00 USD at the custodian bank cover total client liabilities "
        "of 15,800.00 USD."
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ-1", snapshot)


def test_all_balances_are_read_in_one_statement_so_they_are_of_one_instant(book):
    with CaptureQueriesContext(connection) as queries:
        por_snapshot_take(tenant=book.tenant)
    reads = [q["sql"] for q in queries if 'FROM "ledger_ledgeraccount"' in q["sql"]]
    assert len(reads) == 1
    assert "statement_timestamp()" in reads[0]


def test_salts_are_fresh_and_leaves_shuffled_in_every_snapshot(book):
    snapshots = [por_snapshot_take(tenant=book.tenant) for _ in range(6)]
    assert len(set(snapshots)) == 6
    layouts, salts = set(), []
    for snapshot in snapshots:
        leaves = _stored_leaves(book.tenant, snapshot)
        layouts.add(tuple(leaf.account_id for leaf in leaves))
        salts += [leaf.salt for leaf in leaves if leaf.account_id]
    assert len(set(salts)) == len(salts) == 18
    # 24 layouts are possible; six identical ones would happen about once in 8 million runs.
    assert len(layouts) > 1


def test_reserves_below_liabilities_are_reported_and_said_in_words(book):
    book.lend(book.bob_cash, "1000.00")

    snapshot = por_snapshot_take(tenant=book.tenant)

    root = por_root(tenant=book.tenant, snapshot=snapshot)
    assert (root["total_liabilities"], root["reserves"]) == (1_680_000, 1_580_000)
    assert root["statement"] == (
        "Reserves of 15,800.00 USD at the custodian bank are LESS than total client "
        "liabilities of 16,800.00 USD: a shortfall of 1,000.00 USD."
    )


def test_one_tree_per_currency_each_with_its_own_reserves(book):
    cny_bank = account_create(tenant=book.tenant, kind="custodian_bank", currency="CNY")
    alice_cny = book.open(book.acme.client, "CNY")
    book.deposit(alice_cny, "88.88", custodian=cny_bank)

    snapshot = por_snapshot_take(tenant=book.tenant)

    rows = ReserveSnapshot.objects.filter(tenant=book.tenant, snapshot=snapshot)
    assert sorted(rows.values_list("currency", "leaf_count", "total_liabilities")) == [
        ("CNY", 1, 8888),
        ("USD", 4, 1_580_000),
    ]
    cny = por_root(tenant=book.tenant, snapshot=snapshot, currency="CNY")
    assert cny["reserves"] == 8888
    only_cny = por_snapshot_take(tenant=book.tenant, currency="CNY")
    assert list(
        ReserveSnapshot.objects.filter(snapshot=only_cny).values_list("currency", flat=True)
    ) == ["CNY"]


def test_a_tenant_without_client_accounts_has_nothing_to_prove(acme):
    with pytest.raises(ApplicationError, match="no client_cash accounts"):
        por_snapshot_take(tenant=acme.tenant)
    assert por_snapshot_task(acme.tenant.pk) == ""
    assert not ReserveSnapshot.objects.exists()


def test_snapshots_and_leaves_are_never_edited_and_other_tenants_never_see_them(book, globex):
    snapshot = por_snapshot_take(tenant=book.tenant)
    for statement in (
        "UPDATE ledger_reservesnapshot SET reserves = reserves * 10",
        "DELETE FROM ledger_reservesnapshot",
        "UPDATE ledger_reserveleaf SET balance = 0",
        "DELETE FROM ledger_reserveleaf",
    ):
        with pytest.raises(DatabaseError, match=r"append-only|permission denied"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
    acme_tree = ReserveSnapshot.objects.get(snapshot=snapshot).pk
    with as_tenant(globex.tenant):
        assert not ReserveSnapshot.objects.exists() and not ReserveLeaf.objects.exists()
        # Nor can Globex hang a leaf on Acme's tree: the reference carries the tenant.
        with pytest.raises(DatabaseError, match="same_tenant"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            ReserveLeaf.objects.create(
                tenant=globex.tenant,
                snapshot_id=acme_tree,
                index=9,
                commitment="00" * 32,
                balance=0,
            )


# --- the scheduled task ----------------------------------------------------------------------


def test_the_daily_task_takes_one_snapshot_per_business_date(book, monkeypatch):
    first = por_snapshot_task(book.tenant.pk)
    again = por_snapshot_task(book.tenant.pk)

    assert first == again
    row = ReserveSnapshot.objects.get(tenant=book.tenant, snapshot=first)
    # Named by Acme's business date, in its own time zone (Asia/Shanghai).
    assert first == row.taken_at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert ReserveSnapshot.objects.filter(tenant=book.tenant).count() == 1

    queued = []
    monkeypatch.setattr(por_snapshot_task, "delay", queued.append)
    assert por_snapshots_take_all_task() == len(queued) >= 1
    assert book.tenant.pk in queued


def test_the_snapshot_is_scheduled_daily_through_the_platform_hook():
    entry = scheduled_tasks.get("ledger-por-snapshot-daily")
    assert entry is not None and entry.every.days == 1
    assert import_string(entry.task) is por_snapshots_take_all_task


# --- commands --------------------------------------------------------------------------------


def _run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_por_snapshot_prints_the_id_or_the_published_roots(book):
    out, _ = _run("por_snapshot", "--tenant", "acme")
    snapshot = out.strip()
    assert ReserveSnapshot.objects.filter(tenant=book.tenant, snapshot=snapshot).exists()

    out, err = _run("por_snapshot", "--tenant", "acme", "--currency", "usd", "--json")
    (line,) = out.splitlines()
    root = json.loads(line)
    assert set(root) - {"statement"} == ROOT_KEYS
    assert (root["currency"], root["total_liabilities"], root["leaf_count"]) == (
        "USD",
        1_580_000,
        4,
    )
    assert err == ""


def test_por_snapshot_says_a_shortfall_and_refuses_bad_arguments(book):
    book.lend(book.alice_cash, "0.01")
    _, err = _run("por_snapshot", "--tenant", "acme")
    assert "LESS than total client liabilities" in err
    with pytest.raises(CommandError, match="Unknown tenant"):
        _run("por_snapshot", "--tenant", "nobody")
    with pytest.raises(CommandError, match="not a supported currency"):
        _run("por_snapshot", "--tenant", "acme", "--currency", "XXX")
    with pytest.raises(CommandError, match="no client_cash accounts in JPY"):
        _run("por_snapshot", "--tenant", "acme", "--currency", "JPY")


def _write(tmp_path: Path, name: str, document: Any) -> str:
    target = tmp_path / name
    target.write_text(json.dumps(document))
    return str(target)


@pytest.fixture
def alice_files(book, tmp_path) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """Alice's downloaded proof and the published root, as files."""
    snapshot = por_snapshot_take(tenant=book.tenant)
    proof = por_proof_for(
        tenant=book.tenant,
        snapshot=snapshot,
        membership=book.acme.client.membership,
        currency="USD",
    )
    root = por_root(tenant=book.tenant, snapshot=snapshot, currency="USD")
    return _write(tmp_path, "proof.json", proof), _write(tmp_path, "root.json", root), proof, root


def test_por_verify_checks_a_proof_without_the_database(alice_files, django_assert_num_queries):
    proof_file, root_file, proof, _ = alice_files
    with django_assert_num_queries(0):
        out, _ = _run("por_verify", proof_file, "--root", root_file)
        alone, _ = _run("por_verify", proof_file)
    assert f"account {proof['account_ref']}'s balance of 1250000 is included" in out
    assert "cover the total liabilities" in out
    assert "Compare root_hash with the published root" in alone


def test_por_verify_exits_non_zero_naming_the_mismatch(alice_files, tmp_path):
    proof_file, root_file, proof, root = alice_files
    tampered = _write(tmp_path, "tampered.json", {**proof, "balance": proof["balance"] + 100})
    with pytest.raises(CommandError, match="NOT verified: root hash mismatch") as refused:
        _run("por_verify", tampered, "--root", root_file)
    assert refused.value.returncode == 1
    other_root = _write(tmp_path, "other.json", {**root, "root_hash": "ab" * 32})
    with pytest.raises(CommandError, match="published root mismatch"):
        _run("por_verify", proof_file, "--root", other_root)
    short = _write(tmp_path, "short.json", {**root, "reserves": root["total_liabilities"] - 1})
    with pytest.raises(CommandError, match="LESS than the total liabilities") as shortfall:
        _run("por_verify", proof_file, "--root", short)
    assert shortfall.value.returncode == 3
    with pytest.raises(CommandError, match="Cannot read the proof"):
        _run("por_verify", str(tmp_path / "missing.json"))
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(CommandError, match="is not JSON"):
        _run("por_verify", str(tmp_path / "garbage.json"))


def _offline_environment() -> dict[str, str]:
    """The settings of a machine whose database cannot be reached at all."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "DJANGO_SETTINGS_MODULE", "TEST_DATABASE"))
    }
    env["DATABASE_URL"] = "postgresql://nobody:nothing@127.0.0.1:9/nowhere"
    env["DJANGO_SETTINGS_MODULE"] = "platform_core.settings.base"
    return env


def test_por_verify_runs_where_no_database_can_be_reached(alice_files, tmp_path):
    proof_file, root_file, proof, _ = alice_files
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py"), "por_verify"]
    env = _offline_environment()

    ok = subprocess.run(
        [*manage, proof_file, "--root", root_file], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "Proof verified" in ok.stdout

    tampered = _write(tmp_path, "tampered.json", {**proof, "index": proof["index"] ^ 1})
    bad = subprocess.run(
        [*manage, tampered, "--root", root_file], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "root hash mismatch" in bad.stderr


def test_the_guides_dozen_lines_of_python_verify_a_real_proof(alice_files, tmp_path):
    proof_file, root_file, proof, _ = alice_files
    guide = (settings.BASE_DIR / "docs" / "verify-proof-of-reserves.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    assert len(code.strip().splitlines()) <= 14  # a dozen lines, give or take
    script = tmp_path / "verify.py"
    script.write_text(code)

    ok = subprocess.run(
        [sys.executable, str(script), proof_file, root_file], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "verified; reserves cover the total"

    for change in ({"balance": proof["balance"] + 1}, {"index": proof["index"] ^ 1}):
        tampered = _write(tmp_path, "tampered.json", {**proof, **change})
        bad = subprocess.run(
            [sys.executable, str(script), tampered, root_file], capture_output=True, text=True
        )
        assert bad.returncode != 0 and "mismatch" in bad.stderr
    negative = copy.deepcopy(proof)
    negative["path"][0]["sum"] = -1
    bad = subprocess.run(
        [sys.executable, str(script), _write(tmp_path, "neg.json", negative), root_file],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "OverflowError" in bad.stderr


# --- the API ---------------------------------------------------------------------------------


def api_as(person: Person) -> Client:
    """A client calling the API with ``person``'s token (one per test: codes are single use)."""
    return Client(headers={"Authorization": f"Token {api_token_for(Client(), person)}"})


def test_the_client_downloads_a_proof_that_verifies_against_the_published_root(book):
    snapshot = por_snapshot_take(tenant=book.tenant)
    base = f"/api/v1/ledger/proof-of-reserves/{snapshot}"
    alice = api_as(book.acme.client)

    proof = alice.get(f"{base}/my-proof?currency=USD")
    root = alice.get(f"{base}?currency=USD")

    assert proof.status_code == 200 and root.status_code == 200
    body = proof.json()
    assert set(body) == PROOF_KEYS
    assert (body["account_ref"], body["balance"]) == (str(book.alice_cash.pk), 1_250_000)
    assert len(body["path"]) == 2 and len(body["salt"]) == 64
    node = merkle.proof_verify(body, root=root.json())
    assert node.sum == 1_580_000
    # Bob's proof is his own: another leaf, another salt.
    bobs = api_as(book.bob).get(f"{base}/my-proof").json()
    assert bobs["account_ref"] == str(book.bob_cash.pk) and bobs["salt"] != body["salt"]
    listed = api_as(book.carol).get("/api/v1/ledger/proof-of-reserves").json()
    assert [r["snapshot"] for r in listed["results"]] == [snapshot]


def test_anonymous_callers_are_asked_to_authenticate(book):
    snapshot = por_snapshot_take(tenant=book.tenant)
    for url in (
        f"/api/v1/ledger/proof-of-reserves/{snapshot}/my-proof?currency=USD",
        f"/api/v1/ledger/proof-of-reserves/{snapshot}?currency=USD",
        "/api/v1/ledger/proof-of-reserves",
    ):
        response = Client().get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"


def test_another_tenants_snapshot_is_the_404_of_a_missing_one(book, globex):
    snapshot = por_snapshot_take(tenant=book.tenant)
    outsider = api_as(globex.client)
    for suffix in ("/my-proof?currency=USD", "?currency=USD"):
        foreign = outsider.get(f"/api/v1/ledger/proof-of-reserves/{snapshot}{suffix}")
        missing = outsider.get(f"/api/v1/ledger/proof-of-reserves/1999-01-01{suffix}")
        assert foreign.status_code == missing.status_code == 404
        assert foreign.content == missing.content
    listed = outsider.get("/api/v1/ledger/proof-of-reserves").json()
    assert listed["results"] == []


def test_staff_see_the_root_but_have_no_proof_of_their_own(book):
    snapshot = por_snapshot_take(tenant=book.tenant)
    base = f"/api/v1/ledger/proof-of-reserves/{snapshot}"
    staff = api_as(book.acme.operations)

    mine = staff.get(f"{base}/my-proof?currency=USD")
    missing = staff.get("/api/v1/ledger/proof-of-reserves/1999-01-01/my-proof?currency=USD")
    assert mine.status_code == 404 and mine.content == missing.content
    assert str(book.alice_cash.pk) not in mine.content.decode()
    root = staff.get(f"{base}?currency=USD")
    assert root.status_code == 200 and root.json()["total_liabilities"] == 1_580_000


def test_a_client_without_an_account_in_the_currency_gets_404(book):
    cny_bank = account_create(tenant=book.tenant, kind="custodian_bank", currency="CNY")
    dave = make_person(book.tenant, "dave@acme.example", Role.CLIENT)
    book.deposit(book.open(dave, "CNY"), "10.00", custodian=cny_bank)
    snapshot = por_snapshot_take(tenant=book.tenant)
    base = f"/api/v1/ledger/proof-of-reserves/{snapshot}"
    alice, dave_api = api_as(book.acme.client), api_as(dave)

    assert alice.get(f"{base}/my-proof?currency=CNY").status_code == 404
    assert dave_api.get(f"{base}/my-proof?currency=USD").status_code == 404
    assert dave_api.get(f"{base}/my-proof?currency=CNY").status_code == 200
    # Two trees in the snapshot: the currency must be named.
    ambiguous = alice.get(f"{base}/my-proof")
    assert ambiguous.status_code == 400
    assert "CNY, USD" in ambiguous.json()["fields"]["currency"][0]


def test_an_account_opened_after_the_snapshot_has_no_proof_in_it(book):
    snapshot = por_snapshot_take(tenant=book.tenant)
    erin = make_person(book.tenant, "erin@acme.example", Role.CLIENT)
    book.open(erin)
    response = api_as(erin).get(f"/api/v1/ledger/proof-of-reserves/{snapshot}/my-proof")
    assert response.status_code == 404


# --- the portal ------------------------------------------------------------------------------


def test_the_client_downloads_their_proof_and_the_root_in_the_portal(book):
    snapshot = por_snapshot_take(tenant=book.tenant)
    alice = sign_in(Client(), book.acme.client)

    page = alice.get("/proof-of-reserves/")
    assert page.status_code == 200
    html = page.content.decode()
    assert snapshot in html and "My proof" in html and "cover total client liabilities" in html

    download = alice.get(f"/proof-of-reserves/{snapshot}/USD/my-proof.json")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="proof-of-reserves-')
    assert ":" not in download["Content-Disposition"]
    root = alice.get(f"/proof-of-reserves/{snapshot}/USD/root.json")
    assert merkle.proof_verify(json.loads(download.content), root=json.loads(root.content))


def test_the_portal_gives_staff_and_other_tenants_no_proof(book, globex):
    snapshot = por_snapshot_take(tenant=book.tenant)
    staff = sign_in(Client(), book.acme.compliance)
    assert "My proof" not in staff.get("/proof-of-reserves/").content.decode()
    assert staff.get(f"/proof-of-reserves/{snapshot}/USD/my-proof.json").status_code == 404

    outsider = sign_in(Client(), globex.client)
    assert snapshot not in outsider.get("/proof-of-reserves/").content.decode()
    for name in ("my-proof.json", "root.json"):
        assert outsider.get(f"/proof-of-reserves/{snapshot}/USD/{name}").status_code == 404
    assert Client().get("/proof-of-reserves/").status_code == 302  # to the sign-in page


# --- a damaged snapshot is refused, not served -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_proof_is_checked_before_it_is_served_so_a_damaged_tree_is_refused():
    from tests.conftest import as_owner, make_tenant_people

    acme = make_tenant_people("acme")
    with as_tenant(acme.tenant):
        Book(acme)
        snapshot = por_snapshot_take(tenant=acme.tenant)
    # Someone with the owner's rights edits a padding leaf behind the application's back.
    as_owner(
        "ALTER TABLE ledger_reserveleaf DISABLE TRIGGER ledger_reserveleaf_append_only",
        "UPDATE ledger_reserveleaf SET commitment = repeat('ab', 32) WHERE account_id IS NULL",
        "ALTER TABLE ledger_reserveleaf ENABLE TRIGGER ledger_reserveleaf_append_only",
        tenant=acme.tenant,
    )
    response = api_as(acme.client).get(f"/api/v1/ledger/proof-of-reserves/{snapshot}/my-proof")
    assert response.status_code == 409
    assert response.json()["code"] == "por_snapshot_damaged"
