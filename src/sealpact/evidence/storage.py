"""Stored tiles: reading them back (with a cache of immutable bodies) and the overlay used while a batch
is being integrated. Internal to the log service.

A tile body for a given (level, index, width) never changes once committed (C2SP tlog-tiles: tiles are
immutable; a partial tile of width W is a prefix of every wider version), so bodies are cached per process
without invalidation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact.evidence.errors import MissingNodeError
from sealpact.evidence.merkle import HashReader, NodeAddress
from sealpact.evidence.models import StoredTile
from sealpact.evidence.tiles import TILE_WIDTH, Tile, TileReader


class TileCache:
    """A bounded LRU of committed tile bodies keyed by (level, index, width)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._bodies: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()

    def get(self, key: tuple[int, int, int]) -> bytes | None:
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
            return body

    def put(self, key: tuple[int, int, int], body: bytes) -> None:
        with self._lock:
            self._bodies[key] = body
            self._bodies.move_to_end(key)
            while len(self._bodies) > self._capacity:
                self._bodies.popitem(last=False)


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
    """A :class:`~sealpact.evidence.tiles.TileReader` over ``evidence_tiles`` (through the cache)."""

    def __init__(self, session: Session, cache: TileCache | None = None) -> None:
        self._session = session
        self._cache = cache

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        out: list[bytes] = []
        for tile in tiles:
            key = (tile.level, tile.index, tile.width)
            body = self._cache.get(key) if self._cache is not None else None
            if body is None:
                body = read_stored(self._session, tile.level, tile.index, tile.width)
                if body is None:
                    raise MissingNodeError(f"tile {tile.path()} is not stored")
                if self._cache is not None:
                    self._cache.put(key, body)
            out.append(body)
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
