"""Certificate Transparency's Merkle tree (RFC 6962 section 2.1, kept by RFC 9162): tree hashes,
inclusion proofs and consistency proofs. Plain Python, no Django, so an auditor can run it alone.

    leaf hash  = SHA-256(0x00 || d)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two below n

The tree is not padded (left-balanced). ``ledger.merkle`` is a different tree (a Merkle *sum*
tree for proof of reserves, padded to a power of two, with sums in every node), so the two
share nothing but SHA-256.

Proofs are lists of 32-byte hashes; the verifiers follow RFC 9162 sections 2.1.3.2 and
2.1.4.2 and check every step (a proof with a hash too many or too few fails).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
HASH_BYTES = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or arguments no proof can satisfy; the message says which."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaves given by their leaf hashes."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # Bottom-up: pair neighbours; an odd last node is carried up unchanged, which gives the
    # same left-balanced tree as the recursive definition.
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]): the audit path of leaf ``index`` in the tree of ``leaf_hashes``."""
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ProofError(f"no leaf {index} in a tree of {size}")
    return _path(index, leaf_hashes)


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, leaves[:k]), root_of(leaves[k:])]
    return [*_path(m - k, leaves[k:]), root_of(leaves[:k])]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): that the tree of the first ``old_size`` leaves is a prefix of this one."""
    size = len(leaf_hashes)
    if not 0 <= old_size <= size:
        raise ProofError(f"a tree of {size} cannot extend one of {old_size}")
    if old_size in (0, size):
        return []
    return _subproof(old_size, leaf_hashes, True)


def _subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), root_of(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_of(leaves[:k])]


def _check_hash(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_BYTES:
        raise ProofError(f"{what} must be {HASH_BYTES} bytes")
    return bytes(value)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that leaf hash ``leaf`` at ``index`` and ``proof`` lead to (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size}")
    fn, sn = index, size - 1
    result = _check_hash(leaf, "the leaf hash")
    for step, sibling in enumerate(proof):
        sibling = _check_hash(sibling, f"proof step {step}")
        if sn == 0:
            raise ProofError("the proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the path to the root")
    return result


def inclusion_verify(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ``ProofError`` unless leaf hash ``leaf`` is leaf ``index`` of the tree ``root``."""
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != _check_hash(root, "the root"):
        raise ProofError(
            f"inclusion proof mismatch: the leaf and path give {computed.hex()}, "
            f"the tree head says {bytes(root).hex()}"
        )


def consistency_verify(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ``ProofError`` unless the tree ``new_root`` extends ``old_root`` (RFC 9162 2.1.4.2).

    A tree of size 0 is extended by every tree; equal sizes need equal roots and no proof.
    """
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"a tree of {new_size} cannot extend one of {old_size}")
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between trees of the same size must be empty")
        if bytes(old_root) != bytes(new_root):
            raise ProofError("two trees of the same size have different roots")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = [_check_hash(node, f"proof step {i}") for i, node in enumerate(proof)]
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, _check_hash(old_root, "the old root"))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for node in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            first = node_hash(node, first)
            second = node_hash(node, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, node)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if first != bytes(old_root):
        raise ProofError(
            f"the old tree was rewritten: the proof gives old root {first.hex()}, "
            f"the signed head says {bytes(old_root).hex()}"
        )
    if second != bytes(new_root):
        raise ProofError(
            f"consistency mismatch: the proof gives new root {second.hex()}, "
            f"the signed head says {bytes(new_root).hex()}"
        )
