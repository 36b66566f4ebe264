"""Stored tiles: reading them back (with a cache of immutable bodies) and the overlay used while a batch
is being integrated. Internal to the log service.

A tile body for a given (level, index, width) never changes once committed (C2SP tlog-tiles: tiles are
immutable; a partial tile of width W is a prefix of every wider version), so bodies are cached per process
without invalidation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar, cast

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from sealpact.evidence.errors import MissingNodeError
from sealpact.evidence.merkle import HashReader, NodeAddress, node_hash
from sealpact.evidence.models import StoredTile
from sealpact.evidence.tiles import TILE_HEIGHT, TILE_WIDTH, Tile, TileReader, split_tile, tile_width_for_size

T = TypeVar("T")


class LruCache(Generic[T]):
    """A bounded, thread-safe LRU keyed by (level, index, width) of immutable tile data."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, int, int], T] = OrderedDict()

    def get(self, key: tuple[int, int, int]) -> T | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[int, int, int], item: T) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


class TileCache(LruCache[bytes]):
    """Committed tile bodies."""


class NodeCache(LruCache[list[list[bytes]]]):
    """Per tile, the hashes of every Merkle level inside it (tile level, then 1..7 levels above)."""


class TileNodeReader:
    """A :class:`~sealpact.evidence.merkle.HashReader` over the stored tiles of a tree of ``size`` leaves.

    Like :class:`~sealpact.evidence.tiles.TileHashReader` (tlog-tiles: levels between multiples of 8 are
    recomputed from the tile below), but the recomputed levels of each tile are memoised: a tile's
    contents never change, so neither do the 255 node hashes inside a full tile. A proof then costs a
    few dictionary lookups instead of up to 255 SHA-256 per tile.
    """

    def __init__(self, size: int, tiles: TileReader, memo: NodeCache) -> None:
        self._size = size
        self._tiles = tiles
        self._memo = memo

    def get_nodes(self, addresses: Sequence[NodeAddress]) -> list[bytes]:
        located: list[tuple[tuple[int, int, int], int, int]] = []
        for address in addresses:
            if address.end > self._size:
                raise MissingNodeError(
                    f"node {address.level}/{address.index} is not complete at size {self._size}"
                )
            tile_level, sub = divmod(address.level, TILE_HEIGHT)
            first = address.index << sub
            n = first // TILE_WIDTH
            key = (tile_level, n, tile_width_for_size(tile_level, n, self._size))
            located.append((key, sub, (first % TILE_WIDTH) >> sub))
        levels = {key: self._memo.get(key) for key, _, _ in located}
        missing = sorted(key for key, value in levels.items() if value is None)
        if missing:
            bodies = self._tiles.read_tiles([Tile(*key) for key in missing])
            for key, body in zip(missing, bodies, strict=True):
                levels[key] = _levels(split_tile(Tile(*key), body))
                self._memo.put(key, cast(list[list[bytes]], levels[key]))
        return [cast(list[list[bytes]], levels[key])[sub][pos] for key, sub, pos in located]


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    out = [hashes]
    for _ in range(TILE_HEIGHT - 1):
        below = out[-1]
        out.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return out


def read_stored(session: Session, level: int, index: int, width: int) -> bytes | None:
    """The body of tile (level, index) at ``width``: the narrowest stored version at least that wide, cut
    to ``width`` items. ``level`` -1 reads entry bundles, whose items have variable length."""
    row = session.execute(
        select(StoredTile.width, StoredTile.data)
        .where(StoredTile.level == level, StoredTile.tile_index == index, StoredTile.width >= width)
        .order_by(StoredTile.width)
        .limit(1)
    ).first()
    if row is None:
        return None
    stored_width, data = row
    if stored_width == width:
        return bytes(data)
    if level >= 0:
        return bytes(data[: 32 * width])
    return _bundle_prefix(bytes(data), width)


def _bundle_prefix(data: bytes, width: int) -> bytes:
    pos = 0
    for _ in range(width):
        pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
    return data[:pos]


class DbTileReader:
    """A :class:`~sealpact.evidence.tiles.TileReader` over ``evidence_tiles`` (through the cache).

    ``session`` is a session, or a callable opening one on the first cache miss (so a proof served from
    cached tiles never touches the database).
    """

    def __init__(self, session: Session | Callable[[], Session], cache: TileCache | None = None) -> None:
        self._session_or_factory = session
        self._opened: Session | None = session if isinstance(session, Session) else None
        self._cache = cache

    @property
    def _session(self) -> Session:
        if self._opened is None:
            factory = cast(Callable[[], Session], self._session_or_factory)
            self._opened = factory()
        return self._opened

    def close(self) -> None:
        """Close the session this reader opened itself (never a session it was given)."""
        if self._opened is not None and self._opened is not self._session_or_factory:
            self._opened.close()
            self._opened = None

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        found: dict[tuple[int, int, int], bytes] = {}
        missing: list[Tile] = []
        for tile in tiles:
            key = (tile.level, tile.index, tile.width)
            body = self._cache.get(key) if self._cache is not None else None
            if body is None:
                missing.append(tile)
            else:
                found[key] = body
        if missing:
            found.update(self._read_many(missing))
        out = []
        for tile in tiles:
            body = found.get((tile.level, tile.index, tile.width))
            if body is None:
                raise MissingNodeError(f"tile {tile.path()} is not stored")
            out.append(body)
        return out

    def _read_many(self, tiles: Sequence[Tile]) -> dict[tuple[int, int, int], bytes]:
        """One query for all the tiles (a proof needs about one per 8 tree levels)."""
        rows = self._session.execute(
            select(StoredTile.level, StoredTile.tile_index, StoredTile.width, StoredTile.data).where(
                or_(
                    *(
                        and_(
                            StoredTile.level == t.level,
                            StoredTile.tile_index == t.index,
                            StoredTile.width >= t.width,
                        )
                        for t in tiles
                    )
                )
            )
        ).all()
        stored: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
        for level, index, width, data in rows:
            stored.setdefault((level, index), []).append((width, bytes(data)))
        out: dict[tuple[int, int, int], bytes] = {}
        for tile in tiles:
            candidates = sorted(c for c in stored.get((tile.level, tile.index), []) if c[0] >= tile.width)
            if not candidates:
                continue
            width, data = candidates[0]
            body = data if width == tile.width else data[: 32 * tile.width]
            key = (tile.level, tile.index, tile.width)
            out[key] = body
            if self._cache is not None:
                self._cache.put(key, body)
        return out


class OverlayTileReader:
    """Tiles written by the batch in progress first, then the stored ones."""

    def __init__(self, fresh: Mapping[Tile, bytes], below: TileReader) -> None:
        self._fresh = {(t.level, t.index): (t.width, body) for t, body in fresh.items()}
        self._below = below

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        out: list[bytes | None] = []
        missing: list[Tile] = []
        for tile in tiles:
            fresh = self._fresh.get((tile.level, tile.index))
            if fresh is not None and fresh[0] >= tile.width:
                out.append(fresh[1][: 32 * tile.width])
            else:
                out.append(None)
                missing.append(tile)
        found = iter(self._below.read_tiles(missing) if missing else [])
        return [body if body is not None else next(found) for body in out]


class OverlayHashReader:
    """Perfect nodes created by the batch in progress (tile levels only), then an older reader."""

    def __init__(self, fresh: Mapping[NodeAddress, bytes], below: HashReader) -> None:
        self._fresh = fresh
        self._below = below

    def get_nodes(self, addresses: Sequence[NodeAddress]) -> list[bytes]:
        missing = [a for a in addresses if a not in self._fresh]
        found = dict(zip(missing, self._below.get_nodes(missing), strict=True)) if missing else {}
        return [self._fresh[a] if a in self._fresh else found[a] for a in addresses]


def is_full(width: int) -> bool:
    return width == TILE_WIDTH
