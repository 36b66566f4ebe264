"""RFC 6962 / 9162 Merkle core: transparency-dev/merkle vectors and Hypothesis properties."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sealpact.evidence.errors import (
    ConsistencyProofError,
    EvidenceError,
    InclusionProofError,
    MissingNodeError,
    TreeRangeError,
)
from sealpact.evidence.merkle import (
    EMPTY_ROOT,
    Frontier,
    MemoryHashStore,
    NodeAddress,
    consistency_plan,
    consistency_proof,
    consistency_proof_length,
    fold_range,
    inclusion_plan,
    inclusion_proof,
    inclusion_proof_length,
    leaf_hash,
    node_hash,
    node_range,
    root_at,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from tests.vectors import VECTORS_DIR

VECTORS = VECTORS_DIR / "transparency-dev-merkle"
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
LEAF_HASHES = [leaf_hash(x) for x in LEAVES]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert files, f"no {kind} vectors found under {VECTORS}"
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


# --- reference implementation straight from the RFC 9162 §2.1 recursive definitions ----------------------


def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(ref_mth(leaves[:k]), ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


def ref_directions(m: int, n: int) -> list[bool]:
    """For each PATH step from the leaf up: True when the sibling is on the right."""
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*ref_directions(m, k), True]
    return [*ref_directions(m - k, n - k), False]


# --- transparency-dev/merkle vectors ---------------------------------------------------------------------


@pytest.mark.parametrize("case", _load("inclusion"))
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    proof = [_b64(p) for p in case["proof"] or []]
    args = (_b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, _b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(InclusionProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("case", _load("consistency"))
def test_consistency_vectors(case: dict[str, Any]) -> None:
    proof = [_b64(p) for p in case["proof"] or []]
    args = (case["size1"], case["size2"], proof, _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_vector_set_is_complete() -> None:
    # Guard against a silently empty or truncated vector directory.
    assert len(list(VECTORS.rglob("*.json"))) == 196
    accepted = [f for f in VECTORS.rglob("*.json") if not json.loads(f.read_text())["wantErr"]]
    assert len(accepted) == 12


KNOWN_ROOTS = {
    1: "6e340b9c",
    2: "fac54203",
    4: "d37ee418",
    7: "ddb89be4",
    8: "5dc9da79",
}


@pytest.mark.parametrize("n", sorted(KNOWN_ROOTS))
def test_roots_of_the_eight_leaves(n: int) -> None:
    root = root_from_leaf_hashes(LEAF_HASHES[:n])
    assert root.hex().startswith(KNOWN_ROOTS[n])
    assert root == ref_mth(LEAVES[:n])
    store = MemoryHashStore.from_leaf_hashes(LEAF_HASHES)
    assert root_at(n, store) == root


def test_full_known_roots() -> None:
    assert root_from_leaf_hashes(LEAF_HASHES[:7]).hex().endswith("4c8c")
    assert root_from_leaf_hashes(LEAF_HASHES).hex().endswith("4328")
    assert (
        root_from_leaf_hashes([])
        == EMPTY_ROOT
        == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    )


def _happy(kind: str) -> list[Any]:
    return [
        p
        for p in _load(kind)
        if not p.values[0]["wantErr"] and "additional" not in p.id and "single-entry" not in p.id
    ]


@pytest.mark.parametrize("case", _happy("inclusion"))
def test_generated_inclusion_proofs_equal_vectors(case: dict[str, Any]) -> None:
    size, index = case["treeSize"], case["leafIdx"]
    if _b64(case["leafHash"]) not in LEAF_HASHES:
        pytest.skip("vector is not over the eight leaves")
    store = MemoryHashStore.from_leaf_hashes(LEAF_HASHES[:size])
    assert root_at(size, store) == _b64(case["root"])
    assert inclusion_proof(index, size, store) == [_b64(p) for p in case["proof"] or []]


@pytest.mark.parametrize("case", _happy("consistency"))
def test_generated_consistency_proofs_equal_vectors(case: dict[str, Any]) -> None:
    store = MemoryHashStore.from_leaf_hashes(LEAF_HASHES)
    size1, size2 = case["size1"], case["size2"]
    assert root_at(size1, store) == _b64(case["root1"])
    assert root_at(size2, store) == _b64(case["root2"])
    assert consistency_proof(size1, size2, store) == [_b64(p) for p in case["proof"] or []]


# --- structure -------------------------------------------------------------------------------------------


def test_frontier_reports_every_perfect_node_once() -> None:
    frontier = Frontier()
    created: dict[NodeAddress, bytes] = {}
    for h in LEAF_HASHES:
        for address, value in frontier.append(h):
            assert address not in created
            created[address] = value
    # 8 leaves make 8 + 4 + 2 + 1 perfect nodes.
    assert len(created) == 15
    assert created[NodeAddress(3, 0)] == frontier.root() == ref_mth(LEAVES)
    assert created[NodeAddress(1, 2)] == ref_mth(LEAVES[4:6])


def test_frontier_restores_from_reader() -> None:
    store = MemoryHashStore.from_leaf_hashes(LEAF_HASHES[:7])
    restored = Frontier.from_reader(7, store)
    assert restored.addresses() == [NodeAddress(2, 0), NodeAddress(1, 2), NodeAddress(0, 6)]
    assert restored.root() == store.root()
    restored.append(LEAF_HASHES[7])
    assert restored.root() == root_from_leaf_hashes(LEAF_HASHES)


def test_frontier_rejects_inconsistent_state() -> None:
    with pytest.raises(TreeRangeError):
        Frontier(3, [b"\x00" * 32])
    with pytest.raises(TreeRangeError):
        Frontier(1, [b"\x00" * 31])
    with pytest.raises(TreeRangeError):
        Frontier().append(b"short")


def test_node_range_is_a_minimal_cover() -> None:
    assert node_range(3, 13) == [NodeAddress(0, 3), NodeAddress(2, 1), NodeAddress(2, 2), NodeAddress(0, 12)]
    assert node_range(0, 0) == []
    with pytest.raises(TreeRangeError):
        node_range(5, 4)


@given(st.integers(0, 5000), st.integers(0, 5000))
def test_node_range_covers_exactly(a: int, b: int) -> None:
    begin, end = min(a, b), max(a, b)
    nodes = node_range(begin, end)
    pos = begin
    for node in nodes:
        assert node.begin == pos
        pos = node.end
    assert pos == end
    # Never more than two blocks per level.
    levels = [n.level for n in nodes]
    assert all(levels.count(level) <= 2 for level in set(levels))


def test_proof_plans_are_logarithmic() -> None:
    size = (1 << 40) - 12345
    for index in (0, 1, size // 2, size - 1):
        plan = inclusion_plan(index, size)
        assert len(plan) == inclusion_proof_length(index, size)
        assert sum(len(g) for g in plan) <= 2 * 41
    plan = consistency_plan(size // 3, size)
    assert len(plan) == consistency_proof_length(size // 3, size)
    assert sum(len(g) for g in plan) <= 2 * 41


def test_missing_node_raises() -> None:
    store = MemoryHashStore.from_leaf_hashes(LEAF_HASHES[:3])
    with pytest.raises(MissingNodeError):
        inclusion_proof(0, 4, store)


def test_out_of_range_requests() -> None:
    store = MemoryHashStore.from_leaf_hashes(LEAF_HASHES)
    with pytest.raises(TreeRangeError):
        inclusion_proof(8, 8, store)
    with pytest.raises(TreeRangeError):
        consistency_proof(0, 8, store)
    with pytest.raises(TreeRangeError):
        consistency_proof(5, 4, store)
    assert consistency_proof(4, 4, store) == []
    assert issubclass(TreeRangeError, EvidenceError)


# --- properties ------------------------------------------------------------------------------------------

MAX_LEAVES = 300


@st.composite
def tree_and_index(draw: st.DrawFn) -> tuple[list[bytes], int]:
    size = draw(st.integers(1, MAX_LEAVES))
    index = draw(st.integers(0, size - 1))
    return [i.to_bytes(4, "big") for i in range(size)], index


def _flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(tree_and_index())
def test_inclusion_proofs_match_reference_and_verify(data: tuple[list[bytes], int]) -> None:
    leaves, index = data
    size = len(leaves)
    store = MemoryHashStore.from_leaf_hashes(leaf_hash(x) for x in leaves)
    proof = inclusion_proof(index, size, store)
    assert proof == ref_path(index, leaves)
    root = store.root()
    assert root == ref_mth(leaves)
    verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)


@settings(max_examples=150, deadline=None)
@given(tree_and_index(), st.integers(0, 2**20), st.data())
def test_tampered_inclusion_proofs_fail(data: tuple[list[bytes], int], bit: int, draw: st.DataObject) -> None:
    leaves, index = data
    size = len(leaves)
    store = MemoryHashStore.from_leaf_hashes(leaf_hash(x) for x in leaves)
    proof = inclusion_proof(index, size, store)
    root = store.root()
    leaf = leaf_hash(leaves[index])
    # A bit flip in the leaf, the root or any proof hash fails.
    with pytest.raises(InclusionProofError):
        verify_inclusion(_flip(leaf, bit), index, size, proof, root)
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaf, index, size, proof, _flip(root, bit))
    if proof:
        i = draw.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = _flip(bad[i], bit)
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaf, index, size, bad, root)
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaf, index, size, proof[:-1], root)
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaf, index, size, [*proof, root], root)
    # Any other index fails.
    other = draw.draw(st.integers(0, 2 * size))
    assume(other != index)
    with pytest.raises(InclusionProofError):
        verify_inclusion(leaf, other, size, proof, root)


@settings(max_examples=150, deadline=None)
@given(tree_and_index(), st.integers(0, 4 * MAX_LEAVES))
def test_inclusion_with_wrong_size(data: tuple[list[bytes], int], other_size: int) -> None:
    leaves, index = data
    size = len(leaves)
    assume(other_size != size)
    store = MemoryHashStore.from_leaf_hashes(leaf_hash(x) for x in leaves)
    proof = inclusion_proof(index, size, store)
    try:
        verify_inclusion(leaf_hash(leaves[index]), index, other_size, proof, store.root())
    except InclusionProofError:
        return
    # An RFC 6962 root does not commit to the tree size (the signed checkpoint does): a proof can only
    # verify under another size whose path has exactly the same left/right shape.
    assert ref_directions(index, other_size) == ref_directions(index, size)


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(1, MAX_LEAVES))
    size1 = draw(st.integers(1, size2))
    return size1, size2


@settings(max_examples=150, deadline=None)
@given(two_sizes())
def test_consistency_proofs_match_reference_and_verify(sizes: tuple[int, int]) -> None:
    size1, size2 = sizes
    leaves = [i.to_bytes(4, "big") for i in range(size2)]
    store = MemoryHashStore.from_leaf_hashes(leaf_hash(x) for x in leaves)
    proof = consistency_proof(size1, size2, store)
    if size1 < size2:
        assert proof == ref_subproof(size1, leaves, True)
        assert len(proof) == consistency_proof_length(size1, size2)
    verify_consistency(size1, size2, proof, root_at(size1, store), root_at(size2, store))


@settings(max_examples=150, deadline=None)
@given(two_sizes(), st.integers(0, 2**20), st.data())
def test_tampered_consistency_proofs_fail(sizes: tuple[int, int], bit: int, draw: st.DataObject) -> None:
    size1, size2 = sizes
    assume(size1 < size2)
    store = MemoryHashStore.from_leaf_hashes(leaf_hash(i.to_bytes(4, "big")) for i in range(size2))
    proof = consistency_proof(size1, size2, store)
    root1, root2 = root_at(size1, store), root_at(size2, store)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, proof, _flip(root1, bit), root2)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, proof, root1, _flip(root2, bit))
    i = draw.draw(st.integers(0, len(proof) - 1))
    bad = list(proof)
    bad[i] = _flip(bad[i], bit)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, bad, root1, root2)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, proof[:-1], root1, root2)
    with pytest.raises(ConsistencyProofError):
        verify_consistency(size1, size2, [root1, *proof], root1, root2)
    # A wrong old or new size fails unless it names the very same trees (same roots).
    other1 = draw.draw(st.integers(0, 2 * size2))
    if other1 != size1:
        with pytest.raises(ConsistencyProofError):
            verify_consistency(other1, size2, proof, root1, root2)
    other2 = draw.draw(st.integers(0, 4 * size2))
    if other2 != size2:
        try:
            verify_consistency(size1, other2, proof, root1, root2)
        except ConsistencyProofError:
            pass
        else:
            # As for inclusion, the new root does not commit to its size; only the same shape can pass.
            assert consistency_plan_shape(size1, other2) == consistency_plan_shape(size1, size2)


def consistency_plan_shape(size1: int, size2: int) -> list[bool]:
    """Left/right shape of SUBPROOF(m, D[n], true) (True = hash on the right), from the definition."""

    def rec(m: int, n: int, b: bool) -> list[bool]:
        if m == n:
            return [] if b else [True]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return [*rec(m, k, b), True]
        return [*rec(m - k, n - k, False), False]

    return rec(size1, size2, True)


def test_fold_range_of_one_hash_is_that_hash() -> None:
    h = LEAF_HASHES[3]
    assert fold_range([h]) == h
    assert fold_range([]) == EMPTY_ROOT


class _RecordingReader:
    def __init__(self, inner: MemoryHashStore) -> None:
        self.inner = inner
        self.calls: list[list[NodeAddress]] = []

    def get_nodes(self, addresses: list[NodeAddress]) -> list[bytes]:
        self.calls.append(list(addresses))
        return self.inner.get_nodes(addresses)


def test_proofs_read_all_nodes_in_one_batch() -> None:
    store = MemoryHashStore.from_leaf_hashes(leaf_hash(i.to_bytes(4, "big")) for i in range(1000))
    reader = _RecordingReader(store)
    inclusion_proof(777, 1000, reader)
    consistency_proof(333, 1000, reader)
    root_at(999, reader)
    assert len(reader.calls) == 3
    # Only perfect nodes that exist in the tree are requested.
    assert all(a.end <= 1000 for call in reader.calls for a in call)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2000), st.integers(1, 50))
def test_frontier_restore_then_append_matches_full_build(size: int, extra: int) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size + extra)]
    store = MemoryHashStore.from_leaf_hashes(leaves[:size])
    frontier = Frontier.from_reader(size, store)
    assert frontier.root() == store.root()
    created = frontier.extend(leaves[size:])
    assert frontier.root() == root_from_leaf_hashes(leaves)
    # The nodes reported while appending are exactly those a full build stores beyond the old tree.
    full = MemoryHashStore.from_leaf_hashes(leaves)
    for address, value in created:
        assert full.get_nodes([address]) == [value]
        assert address.end > size
