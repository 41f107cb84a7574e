"""Checkpoints: RFC 6962 Merkle trees over the audit trail and the journal, signed tree heads,
inclusion and consistency proofs, and what happens when someone rewrites history.

The tree code is checked against the RFC 6962 test vectors published by google/trillian in
``merkle/log_verifier_test.go`` (commit 166e69e65d8365db09dbfe51af622d988f29aca1: the
``leaves``, ``roots``, ``inclusionProofs`` and ``consistencyProofs`` tables; the same data is
in transparency-dev/merkle).
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from ledger.services import journal_seal
from platform_core.audit import transparency
from platform_core.audit.checkpoints import (
    CheckpointError,
    checkpoint_seal,
    consistency_proof_for,
    head_document,
    head_verify,
    inclusion_proof_for,
)
from platform_core.audit.models import AuditEvent, Checkpoint
from platform_core.audit.services import audit_record
from platform_core.audit.signing import signing_identity_for
from platform_core.audit.tasks import checkpoints_seal_task
from tests.conftest import TenantPeople, as_owner, as_tenant
from tests.ledger.factories import open_book

# --- the published vectors (google/trillian merkle/log_verifier_test.go) ---------------------

LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f")
]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# (leaf number, 1-based as in the Go table; tree size; path)
INCLUSION = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip

HASHES = [transparency.leaf_hash(d) for d in LEAVES]


def test_the_empty_tree_and_every_prefix_give_the_published_roots() -> None:
    assert transparency.root_of([]).hex() == EMPTY
    for size in range(1, 9):
        assert transparency.root_of(HASHES[:size]).hex() == ROOTS[size - 1], size


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_inclusion_proofs_are_the_published_ones_and_verify(
    leaf: int, size: int, path: list[str]
) -> None:
    proof = transparency.inclusion_proof(leaf - 1, HASHES[:size])
    assert [node.hex() for node in proof] == path
    root = bytes.fromhex(ROOTS[size - 1])
    transparency.inclusion_verify(leaf - 1, size, HASHES[leaf - 1], proof, root)
    # As the Go tests: a wrong index, size, leaf, root or path step must not verify.
    wrong = [
        (leaf - 1 + 1, size, HASHES[leaf - 1], proof, root),
        (leaf - 1, size * 2, HASHES[leaf - 1], proof, root),
        (leaf - 1, size, transparency.leaf_hash(b"WrongLeaf"), proof, root),
        (leaf - 1, size, HASHES[leaf - 1], proof, bytes.fromhex(EMPTY)),
        (leaf - 1, size, HASHES[leaf - 1], [*proof, root], root),
        (leaf - 1, size, HASHES[leaf - 1], proof[:-1], root),
    ]
    for i in range(len(proof)):
        wrong.append(
            (
                leaf - 1,
                size,
                HASHES[leaf - 1],
                [*proof[:i], bytes.fromhex(EMPTY), *proof[i + 1 :]],
                root,
            )
        )
    for case in wrong:
        with pytest.raises(transparency.ProofError):
            transparency.inclusion_verify(*case)


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_consistency_proofs_are_the_published_ones_and_verify(
    old: int, new: int, path: list[str]
) -> None:
    proof = transparency.consistency_proof(old, HASHES[:new])
    assert [node.hex() for node in proof] == path
    old_root, new_root = bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1])
    transparency.consistency_verify(old, new, old_root, new_root, proof)
    wrong = [
        (old, new, new_root, old_root, proof),  # swapped roots
        (old, new, transparency.leaf_hash(b"WrongRoot"), new_root, proof),
        (old, new, old_root, transparency.leaf_hash(b"WrongRoot"), proof),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, proof[:-1]),
        (old, new * 2, old_root, new_root, proof),
    ]
    if old > 1:
        wrong.append((old - 1, new, old_root, new_root, proof))
    for case in wrong:
        with pytest.raises(transparency.ProofError):
            transparency.consistency_verify(*case)


def test_every_prefix_is_consistent_with_every_longer_tree() -> None:
    for new in range(0, 9):
        for old in range(0, new + 1):
            proof = transparency.consistency_proof(old, HASHES[:new])
            transparency.consistency_verify(
                old,
                new,
                transparency.root_of(HASHES[:old]),
                transparency.root_of(HASHES[:new]),
                proof,
            )
        for index in range(new):
            proof = transparency.inclusion_proof(index, HASHES[:new])
            root = transparency.root_of(HASHES[:new])
            transparency.inclusion_verify(index, new, HASHES[index], proof, root)


def test_time_travel_and_non_empty_trivial_proofs_are_refused() -> None:
    root = bytes.fromhex(ROOTS[0])
    with pytest.raises(transparency.ProofError):
        transparency.consistency_verify(2, 1, root, root, [])
    with pytest.raises(transparency.ProofError):
        transparency.consistency_verify(1, 1, root, root, [root])
    with pytest.raises(transparency.ProofError):
        transparency.consistency_verify(1, 1, root, bytes.fromhex(ROOTS[1]), [])


# --- checkpoints of a tenant ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def signing_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.SIGNING_PKCS12_FILE = ""
    settings.SIGNING_TSA_URL = ""
    return settings.VAR_DIR


def events(people: TenantPeople, count: int) -> None:
    for n in range(count):
        audit_record(tenant=people.tenant, actor=None, action="test.event", payload={"n": n})


def ca_of(people: TenantPeople) -> list[Any]:
    return list(signing_identity_for(tenant=people.tenant).ca_certificates())


@pytest.mark.django_db
def test_a_signed_head_commits_to_every_audit_event_so_far(acme: TenantPeople) -> None:
    events(acme, 3)
    head = checkpoint_seal(tenant=acme.tenant, log="audit")
    count = AuditEvent.objects.filter(tenant=acme.tenant).count()
    assert head.tree_size == count
    verified = head_verify(head_document(head), trust=ca_of(acme))
    assert (verified.tenant, verified.log, verified.tree_size) == ("acme", "audit", count)
    hashes = (
        AuditEvent.objects.filter(tenant=acme.tenant).order_by("seq").values_list("hash", flat=True)
    )
    leaves = [transparency.leaf_hash(bytes.fromhex(h)) for h in hashes]
    assert transparency.root_of(leaves).hex() == head.root_hash
    # Sealing again with nothing new returns the same head, signs nothing more.
    assert checkpoint_seal(tenant=acme.tenant, log="audit").pk == head.pk


@pytest.mark.django_db
def test_a_head_signed_for_acme_is_not_trusted_with_globexs_ca(
    acme: TenantPeople, globex: TenantPeople
) -> None:
    head = checkpoint_seal(tenant=acme.tenant, log="audit")
    with as_tenant(globex.tenant):
        globex_ca = ca_of(globex)
    with pytest.raises(CheckpointError, match="not issued by a trusted CA"):
        head_verify(head_document(head), trust=globex_ca)


@pytest.mark.django_db
def test_a_changed_statement_or_signature_fails(acme: TenantPeople) -> None:
    document = head_document(checkpoint_seal(tenant=acme.tenant, log="audit"))
    statement = json.loads(document["statement"])
    statement["tree_size"] += 1
    forged = {
        **document,
        "statement": json.dumps(statement, sort_keys=True, separators=(",", ":")),
        "tree_size": statement["tree_size"],
    }
    with pytest.raises(CheckpointError, match="does not verify"):
        head_verify(forged, trust=ca_of(acme))
    with pytest.raises(CheckpointError, match="differs from the signed statement"):
        head_verify({**document, "root_hash": "00" * 32}, trust=ca_of(acme))


@pytest.mark.django_db
def test_inclusion_and_consistency_proofs_from_the_database_verify(acme: TenantPeople) -> None:
    events(acme, 2)
    yesterday = checkpoint_seal(tenant=acme.tenant, log="audit")
    events(acme, 5)
    today = checkpoint_seal(tenant=acme.tenant, log="audit")
    proof = consistency_proof_for(tenant=acme.tenant, older=yesterday, newer=today)
    transparency.consistency_verify(
        yesterday.tree_size,
        today.tree_size,
        bytes.fromhex(yesterday.root_hash),
        bytes.fromhex(today.root_hash),
        [bytes.fromhex(p) for p in proof["path"]],
    )
    inclusion = inclusion_proof_for(tenant=acme.tenant, checkpoint=today, leaf_index=3)
    event = AuditEvent.objects.get(tenant=acme.tenant, seq=4)
    assert inclusion["leaf_data"] == event.hash and inclusion["record"]["seq"] == 4
    transparency.inclusion_verify(
        3,
        today.tree_size,
        transparency.leaf_hash(bytes.fromhex(inclusion["leaf_data"])),
        [bytes.fromhex(p) for p in inclusion["path"]],
        bytes.fromhex(today.root_hash),
    )


@pytest.mark.django_db(transaction=True)
def test_a_rewritten_history_fails_consistency_and_is_never_signed(acme: TenantPeople) -> None:
    with as_tenant(acme.tenant):
        events(acme, 4)
    checkpoints_seal_task(acme.tenant.pk)
    with as_tenant(acme.tenant):
        yesterday = Checkpoint.objects.get(tenant=acme.tenant, log="audit")
    # Someone with the owner's rights rewrites event 2 (and its hash, to keep the chain plausible).
    as_owner(
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only",
        (
            "UPDATE audit_auditevent SET action = 'test.rewritten', hash = %s "
            "WHERE tenant_id = %s AND seq = 2",
            ["ab" * 32, acme.tenant.pk],
        ),
        "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only",
        tenant=acme.tenant,
    )
    with as_tenant(acme.tenant):
        events(acme, 1)
    checkpoints_seal_task(acme.tenant.pk)
    with as_tenant(acme.tenant):
        assert list(Checkpoint.objects.filter(log="audit")) == [yesterday], "nothing new signed"
        finding = AuditEvent.objects.get(action="checkpoint.inconsistent")
        assert "first" in finding.payload["problem"]
        # The consistency proof the platform can build today does not lead to the signed root.
        newest = AuditEvent.objects.filter(tenant=acme.tenant).count()
        leaves = [
            transparency.leaf_hash(bytes.fromhex(h))
            for h in AuditEvent.objects.order_by("seq").values_list("hash", flat=True)
        ]
    proof = transparency.consistency_proof(yesterday.tree_size, leaves)
    with pytest.raises(transparency.ProofError, match="rewritten"):
        transparency.consistency_verify(
            yesterday.tree_size,
            newest,
            bytes.fromhex(yesterday.root_hash),
            transparency.root_of(leaves),
            proof,
        )
    stdout = StringIO()
    with pytest.raises(CommandError, match="do not verify"):
        call_command("checkpoint_verify", "--tenant", "acme", "--log", "audit", stdout=stdout)
    assert "no longer give the signed root" in stdout.getvalue()


@pytest.mark.django_db
def test_the_journal_log_holds_the_sealed_entries(acme: TenantPeople) -> None:
    book = open_book(acme)
    book.fund("10.00")
    book.fund("20.00")
    journal_seal(tenant=acme.tenant)
    head = checkpoint_seal(tenant=acme.tenant, log="journal")
    assert head.tree_size == 2
    inclusion = inclusion_proof_for(tenant=acme.tenant, checkpoint=head, leaf_index=1)
    assert inclusion["record"]["type"] == "journal_entry"


@pytest.mark.django_db
def test_checkpoint_verify_checks_files_an_auditor_fetched(
    acme: TenantPeople, tmp_path: Path
) -> None:
    events(acme, 3)
    yesterday = checkpoint_seal(tenant=acme.tenant, log="audit")
    events(acme, 3)
    today = checkpoint_seal(tenant=acme.tenant, log="audit")
    files = {
        "ca.pem": b"".join(
            c.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.PEM)
            for c in ca_of(acme)
        ),
        "yesterday.json": json.dumps(head_document(yesterday)).encode(),
        "today.json": json.dumps(head_document(today)).encode(),
        "consistency.json": json.dumps(
            consistency_proof_for(tenant=acme.tenant, older=yesterday, newer=today)
        ).encode(),
        "inclusion.json": json.dumps(
            inclusion_proof_for(tenant=acme.tenant, checkpoint=today, leaf_index=4)
        ).encode(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    args = ["--ca", str(tmp_path / "ca.pem"), "--head", str(tmp_path / "today.json"),
            "--previous", str(tmp_path / "yesterday.json"),
            "--consistency", str(tmp_path / "consistency.json"),
            "--inclusion", str(tmp_path / "inclusion.json")]  # fmt: skip
    stdout = StringIO()
    call_command("checkpoint_verify", *args, stdout=stdout)
    assert "nothing before it was rewritten" in stdout.getvalue()
    assert "is in the signed tree" in stdout.getvalue()

    # A proof whose path was altered fails, and says so.
    proof = json.loads(files["consistency.json"])
    proof["path"][0] = "00" * 32
    (tmp_path / "consistency.json").write_text(json.dumps(proof))
    with pytest.raises(CommandError, match="FAILED"):
        call_command("checkpoint_verify", *args, stdout=StringIO())


@pytest.mark.django_db
def test_checkpoint_verify_passes_an_honest_history(acme: TenantPeople) -> None:
    events(acme, 2)
    checkpoint_seal(tenant=acme.tenant, log="audit")
    events(acme, 2)
    checkpoint_seal(tenant=acme.tenant, log="audit")
    stdout = StringIO()
    call_command("checkpoint_verify", "--tenant", "acme", stdout=stdout)
    assert "every checkpoint of acme verifies" in stdout.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_checkpoint SET root_hash = 'x'", "DELETE FROM audit_checkpoint"],
)
def test_checkpoints_refuse_update_and_delete(acme: TenantPeople, statement: str) -> None:
    head = checkpoint_seal(tenant=acme.tenant, log="audit")
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert Checkpoint.objects.get(pk=head.pk).root_hash == head.root_hash
