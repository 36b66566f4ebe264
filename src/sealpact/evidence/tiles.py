"""C2SP tlog-tiles: tile and entry-bundle paths, tile contents, and a hash reader over tiles (pure).

tlog-tiles "Merkle Tree": a tile at level ``L`` and index ``N`` holds up to 256 consecutive Merkle tree
hashes at tree level ``8 * L``: hash ``i`` is ``MTH(D[(N * 256 + i) * 256**L : (N * 256 + i + 1) * 256**L])``.
Full tiles hold exactly 256 hashes; the rightmost tile of a level is *partial* (1..255 hashes) and is served
at ``tile/<L>/<N>.p/<W>``. Hashes at the levels between multiples of 8 are recomputed from a tile.

In :mod:`sealpact.evidence.merkle` terms, hash ``i`` of tile ``(L, N)`` is the perfect node
``NodeAddress(8 * L, N * 256 + i)``, so tile contents are read from any :class:`HashReader`, and
:class:`TileHashReader` serves any node of a tree from its tiles.

tlog-tiles "Log entries": entry bundles ``tile/entries/<N>[.p/<W>]`` are sequences of big-endian uint16
length-prefixed entries; entry ``i`` of bundle ``N`` is leaf ``N * 256 + i``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sealpact.evidence.errors import MalformedTileError, MissingNodeError, TreeRangeError
from sealpact.evidence.merkle import HASH_SIZE, HashReader, MemoryHashStore, NodeAddress, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
#: tlog-tiles: ``<L>`` is between 0 and 63.
MAX_TILE_LEVEL = 63
#: tlog-tiles "Log entries": entries are uint16 length-prefixed.
MAX_ENTRY_SIZE = 0xFFFF

_DECIMAL = r"(?:0|[1-9][0-9]*)"
_INDEX = r"(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
_PARTIAL = r"(?:\.p/(?P<width>[1-9][0-9]*))?"
_TILE_PATH = re.compile(rf"tile/(?P<level>{_DECIMAL})/{_INDEX}{_PARTIAL}")
_ENTRIES_PATH = re.compile(rf"tile/entries/{_INDEX}{_PARTIAL}")


def encode_index(index: int) -> str:
    """tlog-tiles: ``N`` as zero-padded 3-digit path elements, all but the last prefixed with ``x``."""
    if index < 0:
        raise MalformedTileError("tile index must be non-negative")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _decode_index(text: str) -> int:
    parts = text.split("/")
    if len(parts) > 1 and parts[0] == "x000":
        # Leading zero groups would give one index two paths.
        raise MalformedTileError("tile index has a leading zero path element")
    value = 0
    for part in parts:
        value = value * 1000 + int(part.removeprefix("x"))
    return value


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


@dataclass(frozen=True, order=True, slots=True)
class Tile:
    """Tile ``index`` at tile level ``level`` holding ``width`` hashes (256 for a full tile)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_TILE_LEVEL:
            raise MalformedTileError(f"tile level must be 0..{MAX_TILE_LEVEL}")
        if self.index < 0:
            raise MalformedTileError("tile index must be non-negative")
        if not 1 <= self.width <= TILE_WIDTH:
            raise MalformedTileError(f"tile width must be 1..{TILE_WIDTH}")

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """``tile/<L>/<N>[.p/<W>]``."""
        return f"tile/{self.level}/{encode_index(self.index)}{_suffix(self.width)}"

    @property
    def merkle_level(self) -> int:
        """The Merkle tree level of the hashes in this tile."""
        return TILE_HEIGHT * self.level

    def node_addresses(self) -> list[NodeAddress]:
        """The perfect nodes whose hashes make up this tile, in order."""
        first = self.index * TILE_WIDTH
        return [NodeAddress(self.merkle_level, first + i) for i in range(self.width)]

    @property
    def start(self) -> int:
        """tlog-tiles "start index": the first leaf covered by the tile (as if it were full)."""
        return self.index << (TILE_HEIGHT * (self.level + 1))

    @property
    def end(self) -> int:
        """One past the last leaf covered by the hashes actually in the tile."""
        return self.start + (self.width << (TILE_HEIGHT * self.level))

    def full(self) -> Tile:
        return Tile(self.level, self.index)


def parse_tile_path(path: str) -> Tile:
    """Parse ``tile/<L>/<N>[.p/<W>]`` strictly (canonical forms only)."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        raise MalformedTileError(f"not a tile path: {path!r}")
    level = int(match["level"])
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if match["width"] and width >= TILE_WIDTH:
        raise MalformedTileError("partial tile width must be 1..255")
    tile = Tile(level, _decode_index(match["index"]), width)
    return tile


@dataclass(frozen=True, order=True, slots=True)
class EntryBundleRef:
    """Entry bundle ``index`` holding ``width`` entries (leaves ``index * 256`` onward)."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.index < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise MalformedTileError("invalid entry bundle index or width")

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """``tile/entries/<N>[.p/<W>]``."""
        return f"tile/entries/{encode_index(self.index)}{_suffix(self.width)}"

    @property
    def start(self) -> int:
        return self.index * TILE_WIDTH

    @property
    def end(self) -> int:
        return self.start + self.width

    def level0_tile(self) -> Tile:
        """The level-0 tile holding the leaf hashes of these entries."""
        return Tile(0, self.index, self.width)


def parse_entries_path(path: str) -> EntryBundleRef:
    """Parse ``tile/entries/<N>[.p/<W>]`` strictly."""
    match = _ENTRIES_PATH.fullmatch(path)
    if match is None:
        raise MalformedTileError(f"not an entry bundle path: {path!r}")
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    if match["width"] and width >= TILE_WIDTH:
        raise MalformedTileError("partial bundle width must be 1..255")
    return EntryBundleRef(_decode_index(match["index"]), width)


# --- which tiles a tree has ------------------------------------------------------------------------------


def _check_size(size: int) -> None:
    if size < 0:
        raise TreeRangeError("tree size must be non-negative")


def tiles_for_size(size: int) -> list[Tile]:
    """Every tile of a tree of ``size`` leaves: full tiles and, per level, at most one partial tile.

    tlog-tiles "Partial Tiles": the partial tile at level ``l`` has ``floor(s / 256**l) mod 256`` hashes;
    empty tiles do not exist.
    """
    _check_size(size)
    tiles: list[Tile] = []
    level = 0
    while (count := size >> (TILE_HEIGHT * level)) > 0:
        full, rest = divmod(count, TILE_WIDTH)
        tiles.extend(Tile(level, n) for n in range(full))
        if rest:
            tiles.append(Tile(level, full, rest))
        level += 1
    return tiles


def new_tiles(old_size: int, new_size: int) -> list[Tile]:
    """The tiles to write when the tree grows from ``old_size`` to ``new_size`` leaves.

    That is every tile of the new tree that is not, with the same width, a tile of the old tree.
    """
    _check_size(old_size)
    if new_size < old_size:
        raise TreeRangeError("a log never shrinks")
    tiles: list[Tile] = []
    level = 0
    while (new_count := new_size >> (TILE_HEIGHT * level)) > 0:
        old_count = old_size >> (TILE_HEIGHT * level)
        if new_count == old_count:
            break  # nothing changes at this level, hence none above
        for n in range(old_count // TILE_WIDTH, new_count // TILE_WIDTH):
            tiles.append(Tile(level, n))
        if new_count % TILE_WIDTH:
            tiles.append(Tile(level, new_count // TILE_WIDTH, new_count % TILE_WIDTH))
        level += 1
    return tiles


def tile_width_for_size(level: int, index: int, size: int) -> int:
    """Width of tile ``(level, index)`` in a tree of ``size`` leaves; 0 if the tile has no hashes yet."""
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


# --- tile contents ---------------------------------------------------------------------------------------


def tile_contents(tiles: Sequence[Tile], reader: HashReader) -> list[bytes]:
    """The bytes of each tile (concatenated 32-byte hashes), read from stored nodes in one call."""
    addresses = [a for t in tiles for a in t.node_addresses()]
    hashes = reader.get_nodes(addresses) if addresses else []
    if len(hashes) != len(addresses):
        raise MissingNodeError("hash reader returned the wrong number of hashes")
    out: list[bytes] = []
    pos = 0
    for t in tiles:
        out.append(b"".join(hashes[pos : pos + t.width]))
        pos += t.width
    return out


def build_tiles(leaf_hashes: Sequence[bytes]) -> dict[Tile, bytes]:
    """Every tile (full and partial) of the tree of ``leaf_hashes``, computed from scratch.

    Holds all perfect nodes in memory (about two hashes per leaf): for tools, tests and rebuilding a
    log from its entries; the service writes :func:`new_tiles` incrementally instead.
    """
    store = MemoryHashStore.from_leaf_hashes(leaf_hashes)
    tiles = tiles_for_size(len(leaf_hashes))
    return dict(zip(tiles, tile_contents(tiles, store), strict=True))


def split_tile(tile: Tile, data: bytes) -> list[bytes]:
    """The hashes of a tile body; the body must be exactly ``32 * width`` bytes."""
    if len(data) != HASH_SIZE * tile.width:
        raise MalformedTileError(
            f"tile {tile.path()} is {len(data)} bytes, expected {HASH_SIZE * tile.width}"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree from its ``2**k`` bottom hashes (RFC 9162 §2.1.1, equal halves)."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


class TileReader(Protocol):
    """Supplies tile bodies (the service backs it with the blob store or an HTTP client)."""

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]: ...


class TileHashReader:
    """A :class:`~sealpact.evidence.merkle.HashReader` for a tree of ``size`` leaves, served from tiles.

    Node ``(level, index)`` lives in tile level ``level // 8``; its hash is recomputed from the
    ``2**(level % 8)`` tile hashes below it. For a tree of ``size`` leaves the rightmost tile of each level
    is read as the partial tile of that size. Tile bodies are *not* authenticated here: whatever is built
    from them (a root, a proof) must be checked against a verified checkpoint, which
    :mod:`sealpact.evidence.merkle` verification does.
    """

    def __init__(self, size: int, tiles: TileReader) -> None:
        _check_size(size)
        self._size = size
        self._tiles = tiles

    @property
    def size(self) -> int:
        return self._size

    def _locate(self, address: NodeAddress) -> tuple[Tile, int, int]:
        if address.end > self._size:
            raise MissingNodeError(
                f"node {address.level}/{address.index} is not complete at size {self._size}"
            )
        tile_level, sub = divmod(address.level, TILE_HEIGHT)
        if tile_level > MAX_TILE_LEVEL:
            raise MissingNodeError("node level is beyond the highest tile level")
        first = address.index << sub  # index of the first tile-level hash under the node
        n = first // TILE_WIDTH
        width = tile_width_for_size(tile_level, n, self._size)
        return Tile(tile_level, n, width), first % TILE_WIDTH, 1 << sub

    def get_nodes(self, addresses: Sequence[NodeAddress]) -> list[bytes]:
        located = [self._locate(a) for a in addresses]
        wanted = sorted({t for t, _, _ in located})
        bodies = self._tiles.read_tiles(wanted) if wanted else []
        if len(bodies) != len(wanted):
            raise MissingNodeError("tile reader returned the wrong number of tiles")
        hashes = {t: split_tile(t, body) for t, body in zip(wanted, bodies, strict=True)}
        out: list[bytes] = []
        for tile, offset, count in located:
            below = hashes[tile][offset : offset + count]
            if len(below) != count:  # pragma: no cover - _locate only picks complete nodes
                raise MissingNodeError(f"tile {tile.path()} is too narrow for the node")
            out.append(_perfect_root(below))
        return out


class MemoryTileStore:
    """An in-memory :class:`TileReader` (tests and small tools). Keys are tile paths."""

    def __init__(self, bodies: Iterable[tuple[Tile, bytes]] = ()) -> None:
        self._bodies: dict[str, bytes] = {}
        for tile, body in bodies:
            self.put(tile, body)

    def put(self, tile: Tile, body: bytes) -> None:
        split_tile(tile, body)
        self._bodies[tile.path()] = body

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        try:
            return [self._bodies[t.path()] for t in tiles]
        except KeyError as exc:
            raise MissingNodeError(f"tile {exc.args[0]} is not stored") from None

    def paths(self) -> list[str]:
        return sorted(self._bodies)


# --- entry bundles ---------------------------------------------------------------------------------------


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """tlog-tiles "Log entries": each entry as a big-endian uint16 length then its bytes."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise MalformedTileError(f"an entry bundle holds 1..{TILE_WIDTH} entries")
    out = bytearray()
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise MalformedTileError(f"log entries are at most {MAX_ENTRY_SIZE} bytes")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def decode_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Split an entry bundle; if ``width`` is given the bundle must hold exactly that many entries."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise MalformedTileError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise MalformedTileError("entry bundle ends inside an entry")
        entries.append(data[pos : pos + length])
        pos += length
        if len(entries) > TILE_WIDTH:
            raise MalformedTileError(f"entry bundle holds more than {TILE_WIDTH} entries")
    if not entries:
        raise MalformedTileError("entry bundle is empty")
    if width is not None and len(entries) != width:
        raise MalformedTileError(f"entry bundle holds {len(entries)} entries, expected {width}")
    return entries
