"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and an incremental tree (pure, no I/O).

Hashing is RFC 9162 §2.1.1 with SHA-256: a leaf is ``SHA-256(0x00 || data)``, an interior node
``SHA-256(0x01 || left || right)``, the empty tree ``SHA-256("")``.

Addressing. Every *perfect* subtree of the log is named by a :class:`NodeAddress` ``(level, index)``: it
covers the ``2**level`` leaves ``[index * 2**level, (index + 1) * 2**level)``. Once written such a node never
changes, so a store keeps exactly these hashes (C2SP tlog-tiles stores levels 0, 8, 16, ... and recomputes
the levels in between). Any proof or root of any tree size is a fold over O(log n) of them: proof
*generation* first computes a plan (which addresses, how they fold), then fetches all of them in one
:meth:`HashReader.get_nodes` call, so a tile-backed reader can batch its reads.

Verification follows the algorithms of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by
step, plus the edge rules of the transparency-dev/merkle verifier (whose test vectors we run): a
consistency proof from size 0 is an error, equal sizes need an empty proof and equal roots.
Verification raises :class:`~sealpact.evidence.errors.ProofError` subclasses; it never returns a bool.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sealpact.evidence.errors import (
    ConsistencyProofError,
    InclusionProofError,
    MissingNodeError,
    TreeRangeError,
)

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: RFC 9162 §2.1.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``MTH({d(0)}) = SHA-256(0x00 || d(0))``."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x01 || MTH(left) || MTH(right))``."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """RFC 9162 §2.1.1: ``k`` is the largest power of two smaller than ``n`` (for ``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True, order=True, slots=True)
class NodeAddress:
    """The perfect subtree of ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int

    def __post_init__(self) -> None:
        if self.level < 0 or self.index < 0:
            raise ValueError(f"invalid node address {self.level}/{self.index}")

    @property
    def begin(self) -> int:
        """First leaf covered."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """One past the last leaf covered."""
        return (self.index + 1) << self.level


class HashReader(Protocol):
    """Supplies stored hashes of perfect subtrees.

    Implementations return one 32-byte hash per address, in order, and raise
    :class:`~sealpact.evidence.errors.MissingNodeError` when a node is not stored. The service backs it
    with tiles (:class:`sealpact.evidence.tiles.TileHashReader`) or a node table.
    """

    def get_nodes(self, addresses: Sequence[NodeAddress]) -> list[bytes]: ...


def node_range(begin: int, end: int) -> list[NodeAddress]:
    """The perfect subtrees that tile the leaf range ``[begin, end)``, left to right.

    This is the "compact range" decomposition: maximal aligned power-of-two blocks. For a range that is a
    node of some RFC 6962 tree (``begin`` aligned to a power of two at least ``end - begin``), the blocks
    have strictly decreasing sizes and :func:`fold_range` of their hashes is the range's MTH.
    """
    if not 0 <= begin <= end:
        raise TreeRangeError(f"invalid leaf range [{begin}, {end})")
    nodes: list[NodeAddress] = []
    while begin < end:
        # Greedy from the left: the largest block aligned at ``begin`` that still fits in the range.
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append(NodeAddress(level, begin >> level))
        begin += 1 << level
    return nodes


def fold_range(hashes: Sequence[bytes]) -> bytes:
    """The MTH of a tree node from its perfect-subtree hashes (decreasing sizes), folded right to left.

    RFC 9162 §2.1.1 splits at the largest power of two ``k < n``: the left part is perfect, the right part
    recurses, so ``MTH = H(p1, H(p2, H(p3, ...)))``.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _check_node_range(begin: int, end: int) -> list[NodeAddress]:
    addresses = node_range(begin, end)
    sizes = [a.end - a.begin for a in addresses]
    if any(a <= b for a, b in itertools.pairwise(sizes)):  # pragma: no cover - internal invariant
        raise AssertionError(f"[{begin}, {end}) is not a node of an RFC 6962 tree")
    return addresses


# --- Incremental tree ------------------------------------------------------------------------------------


class Frontier:
    """The right edge of a growing log: the roots of the perfect subtrees of ``[0, size)``.

    Appending a leaf costs O(1) amortised hashes and reports the perfect nodes it completes, which is
    exactly what a node/tile store must persist. The root of the current tree is a fold of the frontier.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise TreeRangeError("tree size must be non-negative")
        if len(hashes) != size.bit_count():
            raise TreeRangeError(
                f"a tree of size {size} has {size.bit_count()} frontier hashes, got {len(hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in hashes):
            raise TreeRangeError("frontier hashes must be 32 bytes")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_reader(cls, size: int, reader: HashReader) -> Frontier:
        """Restore the frontier of a stored tree of ``size`` leaves."""
        return cls(size, _read(reader, frontier_addresses(size)))

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Perfect subtree roots, largest (leftmost) first."""
        return tuple(self._hashes)

    def addresses(self) -> list[NodeAddress]:
        return frontier_addresses(self._size)

    def copy(self) -> Frontier:
        return Frontier(self._size, self._hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeAddress, bytes]]:
        """Append a leaf *hash*; return the perfect nodes completed, lowest level first (the leaf itself
        first)."""
        if len(leaf) != HASH_SIZE:
            raise TreeRangeError("leaf hash must be 32 bytes")
        index = self._size
        created = [(NodeAddress(0, index), leaf)]
        acc = leaf
        level = 0
        # Each trailing one bit of the old size is a perfect subtree of the same height to our left.
        while (index >> level) & 1:
            acc = node_hash(self._hashes.pop(), acc)
            level += 1
            created.append((NodeAddress(level, index >> level), acc))
        self._hashes.append(acc)
        self._size += 1
        return created

    def extend(self, leaves: Iterable[bytes]) -> list[tuple[NodeAddress, bytes]]:
        created: list[tuple[NodeAddress, bytes]] = []
        for leaf in leaves:
            created.extend(self.append(leaf))
        return created

    def root(self) -> bytes:
        """RFC 9162 §2.1.1 MTH of the current tree."""
        return fold_range(self._hashes)


def frontier_addresses(size: int) -> list[NodeAddress]:
    """Addresses of the perfect subtrees of ``[0, size)``, largest first (one per set bit of size)."""
    return _check_node_range(0, size)


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH of a list of leaf hashes."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class MemoryHashStore:
    """An in-memory :class:`HashReader` holding perfect-subtree hashes (tests, caches, small tools)."""

    def __init__(self) -> None:
        self._nodes: dict[NodeAddress, bytes] = {}
        self._frontier = Frontier()

    @classmethod
    def from_leaf_hashes(cls, leaves: Iterable[bytes]) -> MemoryHashStore:
        store = cls()
        store.extend(leaves)
        return store

    @property
    def size(self) -> int:
        return self._frontier.size

    def append(self, leaf: bytes) -> None:
        self._nodes.update(self._frontier.append(leaf))

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        return self._frontier.root()

    def get_nodes(self, addresses: Sequence[NodeAddress]) -> list[bytes]:
        try:
            return [self._nodes[a] for a in addresses]
        except KeyError as exc:
            raise MissingNodeError(f"node {exc.args[0]} is not stored") from None


def _read(reader: HashReader, addresses: Sequence[NodeAddress]) -> list[bytes]:
    hashes = reader.get_nodes(addresses) if addresses else []
    if len(hashes) != len(addresses) or any(len(h) != HASH_SIZE for h in hashes):
        raise MissingNodeError("hash reader returned the wrong number or size of hashes")
    return hashes


# --- Proof generation ------------------------------------------------------------------------------------

#: A proof plan: one group of addresses per proof hash; each group folds (:func:`fold_range`) to that hash.
ProofPlan = list[list[NodeAddress]]


def root_plan(size: int) -> list[NodeAddress]:
    """Addresses whose fold is the root of the tree of ``size`` leaves."""
    return frontier_addresses(size)


def root_at(size: int, reader: HashReader) -> bytes:
    """RFC 9162 §2.1.1 MTH of the first ``size`` leaves, from stored nodes."""
    return fold_range(_read(reader, root_plan(size)))


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """RFC 9162 §2.1.3.1 ``PATH(m, D[n])`` as groups of perfect-subtree addresses, leaf side first."""
    if not 0 <= index < size:
        raise TreeRangeError(f"leaf index {index} is not in a tree of size {size}")
    plan: ProofPlan = []
    lo, hi = 0, size
    # Walk down from the root; the sibling of each step is appended, then the list is reversed so that it
    # runs from the leaf's sibling up to the root's child, as PATH defines it.
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            plan.append(_check_node_range(lo + k, hi))
            hi = lo + k
        else:
            # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            plan.append(_check_node_range(lo, lo + k))
            lo = lo + k
    plan.reverse()
    return plan


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """RFC 9162 §2.1.4.1 ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`` as address groups.

    Defined for ``0 < size1 < size2``; equal sizes have the empty proof.
    """
    if not 0 < size1 <= size2:
        raise TreeRangeError(f"no consistency proof from size {size1} to size {size2}")
    plan: ProofPlan = []
    lo, hi, m, complete = 0, size2, size1, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            plan.append(_check_node_range(lo + k, hi))
            hi = lo + k
        else:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            plan.append(_check_node_range(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b = true the old root is known to the verifier.
        plan.append(_check_node_range(lo, hi))
    plan.reverse()
    return plan


def fetch_proof(plan: ProofPlan, reader: HashReader) -> list[bytes]:
    """Read every address of ``plan`` in one :meth:`HashReader.get_nodes` call and fold each group."""
    flat = [a for group in plan for a in group]
    hashes = _read(reader, flat)
    proof: list[bytes] = []
    pos = 0
    for group in plan:
        proof.append(fold_range(hashes[pos : pos + len(group)]))
        pos += len(group)
    return proof


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof for leaf ``index`` in the tree of ``size`` leaves."""
    return fetch_proof(inclusion_plan(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: HashReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof between the trees of ``size1`` and ``size2`` leaves."""
    if size1 == size2:
        return []
    return fetch_proof(consistency_plan(size1, size2), reader)


# --- Proof verification ----------------------------------------------------------------------------------


def inclusion_proof_length(index: int, size: int) -> int:
    """Number of hashes in the inclusion proof: the inner path plus the right-border steps."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(size1: int, size2: int) -> int:
    """Number of hashes in the consistency proof for ``0 < size1 < size2``."""
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    inner = (index ^ ((size2 - 1) >> level)).bit_length()
    seed = 0 if size1 == 1 << level else 1
    return seed + inner + (index >> inner).bit_count()


def _check_hash(value: bytes, what: str, error: type[InclusionProofError | ConsistencyProofError]) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-4); raises if it is malformed."""
    # Step 1: leaf_index must be smaller than tree_size.
    if not 0 <= index < size:
        raise InclusionProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "leaf hash", InclusionProofError)
    expected = inclusion_proof_length(index, size)
    if len(proof) != expected:
        raise InclusionProofError(f"inclusion proof has {len(proof)} hashes, expected {expected}")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}", InclusionProofError)
    # Step 2: fn = leaf_index, sn = tree_size - 1. Step 3: r = hash.
    fn, sn, r = index, size - 1, leaf
    # Step 4.
    for p in proof:
        if sn == 0:  # 4a
            raise InclusionProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5 (first half): sn must be 0.
    if sn != 0:
        raise InclusionProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that ``leaf`` (a leaf *hash*) is at ``index`` in the tree of ``size`` leaves with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`InclusionProofError` saying which check failed.
    """
    computed = root_from_inclusion_proof(leaf, index, size, proof)
    # Step 5: compare r against the root hash.
    if not hmac.compare_digest(computed, root):
        raise InclusionProofError("inclusion proof does not lead to the expected root hash")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Verify that the tree of ``size2`` leaves with ``root2`` extends the tree of ``size1`` with ``root1``.

    RFC 9162 §2.1.4.2. Raises :class:`ConsistencyProofError` saying which check failed.
    """
    if size1 < 0 or size2 < size1:
        raise ConsistencyProofError(f"size2 ({size2}) is smaller than size1 ({size1})")
    if size1 == 0:
        # Every tree extends the empty tree: a proof from size 0 proves nothing, and the verifier we test
        # against refuses it so that callers handle the empty old tree explicitly.
        raise ConsistencyProofError("a consistency proof from the empty tree is meaningless")
    if size1 == size2:
        # The roots are compared as opaque bytes, lengths unchecked, as the reference verifier does (its
        # vector "sizes are equal (one) and proof is empty" has 12-byte roots and must pass).
        if proof:
            raise ConsistencyProofError("sizes are equal but the proof is not empty")
        if not hmac.compare_digest(root1, root2):
            raise ConsistencyProofError("sizes are equal but the root hashes differ")
        return
    # Step 1: an empty consistency_path fails.
    if not proof:
        raise ConsistencyProofError("consistency proof is empty")
    expected = consistency_proof_length(size1, size2)
    if len(proof) != expected:
        raise ConsistencyProofError(f"consistency proof has {len(proof)} hashes, expected {expected}")
    for i, c in enumerate(proof):
        _check_hash(c, f"proof hash {i}", ConsistencyProofError)
    path = list(proof)
    # Step 2: if first is an exact power of 2, prepend first_hash.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Step 3.
    fn, sn = size1 - 1, size2 - 1
    # Step 4: drop the levels where the old tree's last node is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:  # 6a
            raise ConsistencyProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ConsistencyProofError("consistency proof is shorter than the path to the root")
    if not hmac.compare_digest(fr, root1):
        raise ConsistencyProofError("consistency proof does not lead to the old root hash")
    if not hmac.compare_digest(sr, root2):
        raise ConsistencyProofError("consistency proof does not lead to the new root hash")
