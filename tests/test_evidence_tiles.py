"""C2SP tlog-tiles: paths, tile sets, tile contents, tile-backed proofs, entry bundles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.evidence.errors import InclusionProofError, MalformedTileError, MissingNodeError, TreeRangeError
from sealpact.evidence.merkle import (
    Frontier,
    MemoryHashStore,
    NodeAddress,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_at,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from sealpact.evidence.tiles import (
    EntryBundleRef,
    MemoryTileStore,
    Tile,
    TileHashReader,
    build_tiles,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_index,
    new_tiles,
    parse_entries_path,
    parse_tile_path,
    split_tile,
    tile_contents,
    tiles_for_size,
)


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# --- paths -----------------------------------------------------------------------------------------------


def test_spec_index_example() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert Tile(0, 1234067).path() == "tile/0/x001/x234/067"
    assert parse_tile_path("tile/0/x001/x234/067") == Tile(0, 1234067)


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 0), "tile/0/000"),
        (Tile(0, 5, 7), "tile/0/005.p/7"),
        (Tile(1, 999), "tile/1/999"),
        (Tile(2, 1000, 255), "tile/2/x001/000.p/255"),
        (Tile(63, 10**9), "tile/63/x001/x000/x000/000"),
    ],
)
def test_tile_paths_round_trip(tile: Tile, path: str) -> None:
    assert tile.path() == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/0",  # not three digits
        "tile/0/1234",
        "tile/00/000",  # leading zero level
        "tile/64/000",  # level out of range
        "tile/0/x000/001",  # leading zero element
        "tile/0/001/002",  # missing x
        "tile/0/x001",  # last element with x
        "tile/0/000.p/0",  # width 0
        "tile/0/000.p/256",  # a full tile has no .p
        "tile/0/000.p/07",  # leading zero width
        "tile/0/000.p/",
        "/tile/0/000",
        "tile/0/000/",
        "tile/entries/000",
        "tile/-1/000",
    ],
)
def test_bad_tile_paths(path: str) -> None:
    with pytest.raises(MalformedTileError):
        parse_tile_path(path)


def test_entry_bundle_paths() -> None:
    assert EntryBundleRef(1234067).path() == "tile/entries/x001/x234/067"
    assert EntryBundleRef(3, 17).path() == "tile/entries/003.p/17"
    assert parse_entries_path("tile/entries/003.p/17") == EntryBundleRef(3, 17)
    assert parse_entries_path("tile/entries/x001/x234/067") == EntryBundleRef(1234067)
    for bad in ["tile/entries/3", "tile/0/000", "tile/entries/000.p/256", "tile/entries/x000/003"]:
        with pytest.raises(MalformedTileError):
            parse_entries_path(bad)
    assert EntryBundleRef(3, 17).level0_tile() == Tile(0, 3, 17)


@given(st.integers(0, 10**15))
def test_index_encoding_round_trips(index: int) -> None:
    assert parse_tile_path(Tile(0, index).path()).index == index
    assert parse_entries_path(EntryBundleRef(index, 9).path()) == EntryBundleRef(index, 9)


# --- tile sets -------------------------------------------------------------------------------------------


def test_spec_example_tree_of_70000() -> None:
    tiles = tiles_for_size(70_000)
    level0 = [t for t in tiles if t.level == 0]
    assert sum(1 for t in level0 if not t.is_partial) == 273
    assert [t for t in level0 if t.is_partial] == [Tile(0, 273, 112)]
    assert [t for t in tiles if t.level == 1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert [t for t in tiles if t.level == 2] == [Tile(2, 0, 1)]
    assert len(tiles) == 273 + 1 + 2 + 1


def test_spec_example_tree_of_256() -> None:
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 200_000), st.integers(0, 200_000))
def test_new_tiles_are_exactly_the_difference(a: int, b: int) -> None:
    old, new = min(a, b), max(a, b)
    assert set(new_tiles(old, new)) == set(tiles_for_size(new)) - set(tiles_for_size(old))


def test_new_tiles_rejects_shrinking() -> None:
    with pytest.raises(TreeRangeError):
        new_tiles(5, 4)


def test_tile_geometry() -> None:
    t = Tile(1, 2, 10)
    assert t.merkle_level == 8
    assert t.start == 2 * 256**2
    assert t.end == t.start + 10 * 256
    assert t.node_addresses()[0] == NodeAddress(8, 512)
    assert t.full() == Tile(1, 2)
    for bad in [(-1, 0, 1), (0, -1, 1), (0, 0, 0), (0, 0, 257)]:
        with pytest.raises(MalformedTileError):
            Tile(*bad)


# --- contents and the tile hash reader -------------------------------------------------------------------


def _tile_store(leaves: list[bytes]) -> tuple[MemoryHashStore, MemoryTileStore]:
    nodes = MemoryHashStore.from_leaf_hashes(leaves)
    tiles = tiles_for_size(len(leaves))
    return nodes, MemoryTileStore(zip(tiles, tile_contents(tiles, nodes), strict=True))


def test_tile_contents_follow_the_spec_formula() -> None:
    leaves = _leaves(256 * 3 + 5)
    _, store = _tile_store(leaves)
    # Level 0 tile N holds leaf hashes N*256 .. N*256+255.
    body = store.read_tiles([Tile(0, 1)])[0]
    assert split_tile(Tile(0, 1), body) == leaves[256:512]
    # Level 1 hash i is the MTH of level-0 tile i.
    level1 = split_tile(Tile(1, 0, 3), store.read_tiles([Tile(1, 0, 3)])[0])
    for i in range(3):
        assert level1[i] == _mth(leaves[i * 256 : (i + 1) * 256])
    # Partial tile at level 0 has the 5 trailing leaves.
    assert split_tile(Tile(0, 3, 5), store.read_tiles([Tile(0, 3, 5)])[0]) == leaves[768:]


def _mth(leaves: list[bytes]) -> bytes:
    f = Frontier()
    f.extend(leaves)
    return f.root()


def test_split_tile_checks_length() -> None:
    with pytest.raises(MalformedTileError):
        split_tile(Tile(0, 0, 2), b"\x00" * 63)
    with pytest.raises(MalformedTileError):
        MemoryTileStore().put(Tile(0, 0), b"\x00" * 32)


SIZES = [1, 2, 255, 256, 257, 511, 512, 1000, 256 * 256 - 1, 256 * 256, 256 * 256 + 300]


@pytest.mark.parametrize("size", SIZES)
def test_tile_reader_serves_roots_and_proofs_equal_to_full_store(size: int) -> None:
    leaves = _leaves(size)
    nodes, store = _tile_store(leaves)
    reader = TileHashReader(size, store)
    assert root_at(size, reader) == nodes.root()
    for index in sorted({0, 1, size // 3, size // 2, size - 2, size - 1} - {-1}):
        if 0 <= index < size:
            proof = inclusion_proof(index, size, reader)
            assert proof == inclusion_proof(index, size, nodes)
            verify_inclusion(leaves[index], index, size, proof, nodes.root())
    for old in sorted({1, size // 2, size - 1} - {0}):
        proof = consistency_proof(old, size, reader)
        assert proof == consistency_proof(old, size, nodes)
        verify_consistency(old, size, proof, root_at(old, nodes), nodes.root())


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_tile_reader_property(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    nodes, store = _tile_store(leaves)
    reader = TileHashReader(size, store)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    assert inclusion_proof(index, size, reader) == inclusion_proof(index, size, nodes)
    assert consistency_proof(old, size, reader) == consistency_proof(old, size, nodes)
    # An older tree size can be served from the same full tiles plus its own partial tiles.
    old_tiles = tiles_for_size(old)
    for t, body in zip(old_tiles, tile_contents(old_tiles, nodes), strict=True):
        store.put(t, body)
    assert root_at(old, TileHashReader(old, store)) == root_at(old, nodes)


def test_tile_reader_reads_each_tile_once_per_call() -> None:
    size = 256 * 256 + 300
    _, store = _tile_store(_leaves(size))
    calls: list[list[Tile]] = []

    class Recording:
        def read_tiles(self, tiles: list[Tile]) -> list[bytes]:
            calls.append(list(tiles))
            return store.read_tiles(tiles)

    inclusion_proof(12345, size, TileHashReader(size, Recording()))
    assert len(calls) == 1
    assert len(calls[0]) == len(set(calls[0])) <= 6


def test_tile_reader_refuses_incomplete_nodes_and_missing_tiles() -> None:
    _, store = _tile_store(_leaves(300))
    with pytest.raises(MissingNodeError):
        TileHashReader(300, store).get_nodes([NodeAddress(9, 0)])  # needs 512 leaves
    with pytest.raises(MissingNodeError):
        TileHashReader(301, store).get_nodes([NodeAddress(0, 300)])  # partial tile of width 45 not stored
    with pytest.raises(TreeRangeError):
        TileHashReader(-1, store)


def test_tampered_tile_gives_proofs_that_do_not_verify() -> None:
    size = 1000
    leaves = _leaves(size)
    nodes, store = _tile_store(leaves)
    reader = TileHashReader(size, store)
    # Flip a bit of leaf 1 (the sibling of leaf 0) in level-0 tile 0, and of the hash of leaves
    # 256..511 in level-1 tile 0: both are on leaf 0's path.
    for tile, byte in [(Tile(0, 0), 40), (Tile(1, 0, 3), 33)]:
        good = store.read_tiles([tile])[0]
        body = bytearray(good)
        body[byte] ^= 1
        store.put(tile, bytes(body))
        proof = inclusion_proof(0, size, reader)
        with pytest.raises(InclusionProofError, match="root"):
            verify_inclusion(leaves[0], 0, size, proof, nodes.root())
        store.put(tile, good)
    verify_inclusion(leaves[0], 0, size, inclusion_proof(0, size, reader), nodes.root())


# --- entry bundles ---------------------------------------------------------------------------------------


def test_entry_bundle_round_trip_and_layout() -> None:
    entries = [b"", b"a", b"x" * 300]
    data = encode_entry_bundle(entries)
    assert data[:5] == bytes.fromhex("0000000161")
    assert data[5:7] == (300).to_bytes(2, "big")
    assert decode_entry_bundle(data) == entries
    assert decode_entry_bundle(data, width=3) == entries
    with pytest.raises(MalformedTileError):
        decode_entry_bundle(data, width=4)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x02a", b"\x00\x01ab"[:-1] + b"\x00"])
def test_bad_entry_bundles(data: bytes) -> None:
    with pytest.raises(MalformedTileError):
        decode_entry_bundle(data)


def test_entry_bundle_limits() -> None:
    with pytest.raises(MalformedTileError):
        encode_entry_bundle([b"x" * 65536])
    with pytest.raises(MalformedTileError):
        encode_entry_bundle([])
    with pytest.raises(MalformedTileError):
        encode_entry_bundle([b""] * 257)
    with pytest.raises(MalformedTileError):
        decode_entry_bundle(b"\x00\x00" * 257)
    encode_entry_bundle([b"x" * 65535])


@given(st.lists(st.binary(max_size=600), min_size=1, max_size=256))
def test_entry_bundles_round_trip(entries: list[bytes]) -> None:
    assert decode_entry_bundle(encode_entry_bundle(entries), width=len(entries)) == entries


def test_entry_bundle_hashes_match_level0_tile() -> None:
    entries = [f"entry {i}".encode() for i in range(300)]
    _, store = _tile_store([leaf_hash(e) for e in entries])
    ref = EntryBundleRef(1, 44)
    bundle = encode_entry_bundle(entries[ref.start : ref.end])
    hashes = [leaf_hash(e) for e in decode_entry_bundle(bundle, ref.width)]
    assert b"".join(hashes) == store.read_tiles([ref.level0_tile()])[0]


def test_build_tiles_follows_the_spec_formula_for_70000_leaves() -> None:
    # tlog-tiles: hash i of tile n at level l is MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]).
    leaves = _leaves(70_000)
    tiles = build_tiles(leaves)
    assert sorted(tiles) == sorted(tiles_for_size(70_000))
    for tile in [Tile(0, 0), Tile(0, 273, 112), Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)]:
        hashes = split_tile(tile, tiles[tile])
        span = 256**tile.level
        for i in sorted({0, 1, tile.width // 2, tile.width - 1} & set(range(tile.width))):
            lo = (tile.index * 256 + i) * span
            assert hashes[i] == root_from_leaf_hashes(leaves[lo : lo + span])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="tilentrx0123456789/.p-", max_size=40))
def test_parsing_arbitrary_paths_fails_only_with_malformed_tile(path: str) -> None:
    for parse in (parse_tile_path, parse_entries_path):
        try:
            parsed = parse(path)
        except MalformedTileError:
            continue
        assert parsed.path() == path


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoding_arbitrary_bundles_fails_only_with_malformed_tile(data: bytes) -> None:
    try:
        entries = decode_entry_bundle(data)
    except MalformedTileError:
        return
    assert encode_entry_bundle(entries) == data
