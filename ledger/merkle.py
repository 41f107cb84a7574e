"""The Merkle sum tree behind proof of reserves: build it, prove one leaf, verify a proof.

Plain Python, no Django, so a client, an auditor or ``manage.py por_verify`` can run it with
nothing else. Exactly ../shared/contracts/proof-of-reserves.md:

- ``commitment = SHA-256(salt || account_ref)``, ``salt`` 32 random bytes, ``account_ref`` the
  ledger account id as UTF-8 text;
- leaf: ``hash = SHA-256(0x00 || commitment || u128(balance))``, ``sum = balance``;
- inner: ``sum = left.sum + right.sum``,
  ``hash = SHA-256(0x01 || left.hash || u128(left.sum) || right.hash || u128(right.sum))``;
- ``u128(x)``: 16 bytes, big-endian, unsigned.

Every sum sits inside its parent's hash and must be a non-negative integer below 2**128, so a
negative leaf (the classic way to hide liabilities) or an overflowing one cannot be built,
and cannot be smuggled into a proof either.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

U128_MAX = (1 << 128) - 1
HASH_BYTES = 32
SALT_BYTES = 32
LEAF_PREFIX = b"\x00"
INNER_PREFIX = b"\x01"

PROOF_KEYS = (
    "snapshot",
    "currency",
    "account_ref",
    "salt",
    "balance",
    "index",
    "path",
    "root_hash",
    "total_liabilities",
)
ROOT_KEYS = (
    "snapshot",
    "tenant",
    "currency",
    "taken_at",
    "leaf_count",
    "root_hash",
    "total_liabilities",
    "reserves",
)


class MerkleError(ValueError):
    """Input the tree refuses: a negative, non-integer or too large amount, a malformed hash."""


class ProofMismatch(MerkleError):
    """A proof that does not verify; the message names what does not match."""


def _amount(value: Any, what: str) -> int:
    # bool is an int in Python, and 1.0 == 1: neither is an amount in minor units.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MerkleError(f"{what} must be an integer number of minor units, not {value!r}")
    if value < 0:
        raise MerkleError(f"{what} must not be negative, got {value}")
    if value > U128_MAX:
        raise MerkleError(f"{what} does not fit in an unsigned 128-bit integer: {value}")
    return value


def u128(value: int) -> bytes:
    """``value`` as 16 bytes, big-endian, unsigned."""
    return _amount(value, "an amount").to_bytes(16, "big")


def _hash_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_BYTES:
        raise MerkleError(f"{what} must be {HASH_BYTES} bytes")
    return value


@dataclass(frozen=True)
class Node:
    """A tree node: its hash and the sum of the balances below it."""

    hash: bytes
    sum: int


@dataclass(frozen=True)
class Leaf:
    """What a leaf commits to: a 32-byte commitment and a balance in minor units."""

    commitment: bytes
    balance: int

    def __post_init__(self) -> None:
        _hash_bytes(self.commitment, "a leaf commitment")
        _amount(self.balance, "a leaf balance")


def commitment_of(*, salt: bytes, account_ref: str) -> bytes:
    """``SHA-256(salt || account_ref)``: hides who the leaf is, unless you know the salt."""
    if len(salt) != SALT_BYTES:
        raise MerkleError(f"the salt must be {SALT_BYTES} bytes, got {len(salt)}")
    return hashlib.sha256(salt + account_ref.encode("utf-8")).digest()


def leaf_node(leaf: Leaf) -> Node:
    digest = hashlib.sha256(LEAF_PREFIX + leaf.commitment + u128(leaf.balance)).digest()
    return Node(digest, leaf.balance)


def inner_node(left: Node, right: Node) -> Node:
    total = left.sum + right.sum
    if total > U128_MAX:
        raise MerkleError(f"a sum overflows an unsigned 128-bit integer: {total}")
    digest = hashlib.sha256(
        INNER_PREFIX + left.hash + u128(left.sum) + right.hash + u128(right.sum)
    ).digest()
    return Node(digest, total)


def padding_leaf(*, random_bytes: Callable[[int], bytes] = os.urandom) -> Leaf:
    """A zero-balance leaf whose commitment is 32 random bytes, as nobody's account."""
    return Leaf(random_bytes(HASH_BYTES), 0)


def leaves_pad(
    leaves: Sequence[Leaf], *, random_bytes: Callable[[int], bytes] = os.urandom
) -> list[Leaf]:
    """``leaves`` followed by padding leaves up to the next power of two (at least one)."""
    size = 1
    while size < len(leaves):
        size *= 2
    return [*leaves, *(padding_leaf(random_bytes=random_bytes) for _ in range(size - len(leaves)))]


class SumTree:
    """A complete binary Merkle sum tree; ``levels[0]`` are the leaves, ``levels[-1]`` the root."""

    def __init__(self, leaves: Sequence[Leaf]) -> None:
        if not leaves or len(leaves) & (len(leaves) - 1):
            raise MerkleError(f"a tree needs a power-of-two number of leaves, got {len(leaves)}")
        self.leaves = list(leaves)
        level = [leaf_node(leaf) for leaf in self.leaves]
        self.levels = [level]
        while len(level) > 1:
            level = [inner_node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self.levels.append(level)

    @property
    def root(self) -> Node:
        return self.levels[-1][0]

    @property
    def leaf_count(self) -> int:
        return len(self.leaves)

    def path(self, index: int) -> list[Node]:
        """The siblings from leaf ``index``'s up to the root's child."""
        if not 0 <= index < self.leaf_count:
            raise MerkleError(f"no leaf {index} in a tree of {self.leaf_count}")
        return [level[(index >> k) ^ 1] for k, level in enumerate(self.levels[:-1])]


def tree_build(
    leaves: Sequence[Leaf], *, random_bytes: Callable[[int], bytes] = os.urandom
) -> SumTree:
    """The tree of ``leaves``, padded to a power of two with random-commitment zero leaves."""
    return SumTree(leaves_pad(leaves, random_bytes=random_bytes))


def path_as_json(path: Sequence[Node]) -> list[dict[str, Any]]:
    return [{"hash": node.hash.hex(), "sum": node.sum} for node in path]


def root_compute(
    *, account_ref: str, salt: bytes, balance: int, index: int, path: Sequence[Node]
) -> Node:
    """Verification steps 1 and 2: the root that this leaf and path lead to."""
    node = leaf_node(Leaf(commitment_of(salt=salt, account_ref=account_ref), balance))
    for k, step in enumerate(path):
        node = inner_node(step, node) if (index >> k) & 1 else inner_node(node, step)
    return node


# --- reading and checking the published JSON --------------------------------------------------


def _hex(value: Any, what: str, size: int) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != size:
        raise MerkleError(f"{what} must be {size * 2} hexadecimal digits, got {value!r}")
    return raw


def _document(document: Any, keys: Sequence[str], what: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise MerkleError(f"the {what} must be a JSON object")
    missing = [key for key in keys if key not in document]
    if missing:
        raise MerkleError(f"the {what} lacks {', '.join(missing)}")
    return document


def proof_verify(proof: Any, *, root: Any = None) -> Node:
    """Check a client's proof (the contract's JSON, parsed); return the root it leads to.

    Raises ``MerkleError`` for a malformed proof and ``ProofMismatch`` naming the first
    mismatch: the recomputed root hash or total, or, when the published ``root`` is given,
    its snapshot, currency, tree size, root hash or total.
    """
    proof = _document(proof, PROOF_KEYS, "proof")
    if not isinstance(proof["account_ref"], str):
        raise MerkleError("account_ref must be text (the ledger account id)")
    salt = _hex(proof["salt"], "salt", SALT_BYTES)
    balance = _amount(proof["balance"], "balance")
    index = _amount(proof["index"], "index")
    if not isinstance(proof["path"], list):
        raise MerkleError("path must be a list of {hash, sum} steps")
    path = []
    for k, step in enumerate(proof["path"]):
        step = _document(step, ("hash", "sum"), f"path step {k}")
        path.append(
            Node(
                _hex(step["hash"], f"path[{k}].hash", HASH_BYTES),
                _amount(step["sum"], f"path[{k}].sum"),
            )
        )
    # Bits of the index above the path would be ignored by the fold: refuse them instead.
    if index >> len(path):
        raise ProofMismatch(f"index {index} is outside a tree of {2 ** len(path)} leaves")
    root_hash = _hex(proof["root_hash"], "root_hash", HASH_BYTES)
    total = _amount(proof["total_liabilities"], "total_liabilities")

    node = root_compute(
        account_ref=proof["account_ref"], salt=salt, balance=balance, index=index, path=path
    )
    if node.hash != root_hash:
        raise ProofMismatch(
            f"root hash mismatch: the leaf and path give {node.hash.hex()}, "
            f"the proof says {root_hash.hex()}"
        )
    if node.sum != total:
        raise ProofMismatch(
            f"total mismatch: the path adds up to {node.sum}, "
            f"the proof says total_liabilities {total}"
        )
    if root is not None:
        root_verify(proof, root=root, node=node, depth=len(path))
    return node


def root_verify(proof: Mapping[str, Any], *, root: Any, node: Node, depth: int) -> None:
    """Step 3's last part: the proof's root is the published one."""
    root = _document(root, ROOT_KEYS, "published root")
    for key in ("snapshot", "currency"):
        if root[key] != proof[key]:
            raise ProofMismatch(
                f"{key} mismatch: the proof is for {proof[key]!r}, the root for {root[key]!r}"
            )
    leaf_count = _amount(root["leaf_count"], "the published leaf_count")
    if leaf_count != 2**depth:
        raise ProofMismatch(
            f"leaf_count mismatch: the path fits a tree of {2**depth} leaves, "
            f"the published root has {leaf_count}"
        )
    published = _hex(root["root_hash"], "the published root_hash", HASH_BYTES)
    if published != node.hash:
        raise ProofMismatch(
            f"published root mismatch: the proof leads to {node.hash.hex()}, "
            f"the published root_hash is {published.hex()}"
        )
    total = _amount(root["total_liabilities"], "the published total_liabilities")
    if total != node.sum:
        raise ProofMismatch(
            f"published total mismatch: the proof adds up to {node.sum}, "
            f"the published total_liabilities is {total}"
        )


def reserves_shortfall(root: Any) -> int:
    """How far the published reserves fall short of the total liabilities (0: covered)."""
    root = _document(root, ROOT_KEYS, "published root")
    reserves = _amount(root["reserves"], "the published reserves")
    total = _amount(root["total_liabilities"], "the published total_liabilities")
    return max(total - reserves, 0)
