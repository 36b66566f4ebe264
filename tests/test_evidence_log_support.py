"""Helpers for the evidence log tests: runtimes with the sequencer off or on, raw SQL, an HTTP tile reader."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text

from sealpact.config import Settings
from sealpact.db import transaction, upgrade
from sealpact.evidence.service import EvidenceRecord, StagedEntry
from sealpact.evidence.tiles import Tile
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider
from tests.conftest import MASTER_SECRET, make_settings

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def evidence_settings(base: Settings, **overrides: object) -> Settings:
    values = base.model_dump()
    values.update(overrides)
    return Settings(**values)


@contextmanager
def evidence_runtime(data_dir: Path, database_url: str, **overrides: object) -> Iterator[Runtime]:
    """A migrated runtime with an initialised log (keyring created if missing)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = make_settings(data_dir, database_url=database_url, **overrides)
    if not settings.keyring_path.exists():
        KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    runtime = Runtime(settings)
    upgrade(runtime.engine)
    runtime.evidence.initialise()
    try:
        yield runtime
    finally:
        runtime.close()


def stage(runtime: Runtime, count: int, *, subject: str = "contract-1", per_tx: int = 1) -> list[StagedEntry]:
    staged: list[StagedEntry] = []
    i = 0
    while i < count:
        with transaction(runtime.sessions) as session:
            for _ in range(min(per_tx, count - i)):
                record = EvidenceRecord(
                    "contract.signed", subject, {"signer": "Zhang San", "n": i, "ip": "192.0.2.7"}, T0
                )
                staged.append(runtime.evidence.record(session, record))
                i += 1
    return staged


def sql(runtime: Runtime, statement: str, **params: object) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(text(statement), params)


class HttpTiles:
    """A TileReader fetching ``/log/tile/...`` over HTTP (an independent client)."""

    def __init__(self, client: httpx.Client | object, base: str = "") -> None:
        self._client = client
        self._base = base
        self.overrides: dict[str, bytes] = {}

    def read_tiles(self, tiles: Sequence[Tile]) -> list[bytes]:
        out = []
        for tile in tiles:
            path = tile.path()
            if path in self.overrides:
                out.append(self.overrides[path])
                continue
            response = self._client.get(f"{self._base}/log/{path}")  # type: ignore[attr-defined]
            assert response.status_code == 200, (path, response.text)
            out.append(response.content)
        return out
