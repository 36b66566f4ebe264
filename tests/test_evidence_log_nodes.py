"""The memoising tile reader serves the same nodes and proofs as the pure core, at any tree size."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.evidence.merkle import (
    MemoryHashStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
)
from sealpact.evidence.storage import NodeCache, TileNodeReader
from sealpact.evidence.tiles import MemoryTileStore, build_tiles

LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(20_000)]


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 20_000), data=st.data())
def test_tile_node_reader_matches_the_core(size: int, data: st.DataObject) -> None:
    store = MemoryHashStore.from_leaf_hashes(LEAVES[:size])
    tiles = MemoryTileStore(build_tiles(LEAVES[:size]).items())
    memo = NodeCache(64)
    reader = TileNodeReader(size, tiles, memo)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    assert root_at(size, reader) == store.root()
    assert inclusion_proof(index, size, reader) == inclusion_proof(index, size, store)
    assert consistency_proof(old, size, reader) == consistency_proof(old, size, store)
    # Served again from the memo (same answers, no tile reads).
    assert inclusion_proof(index, size, TileNodeReader(size, MemoryTileStore(), memo)) == inclusion_proof(
        index, size, store
    )
