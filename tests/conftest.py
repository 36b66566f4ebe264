"""Shared fixtures: settings in a temp data dir, a migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from sealpact.config import Settings
from sealpact.db import upgrade
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider
from tests.services import PG_HOST, PG_PORT, require

MASTER_SECRET = "test-master-secret-" + "x" * 24


def _create_pg_database() -> str:
    require("PostgreSQL", PG_HOST, PG_PORT)
    name = "sealpact_test_" + secrets.token_hex(6)
    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = _create_pg_database()
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each database-backed test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sealpact.db'}"
        return
    name = _create_pg_database()
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _drop_pg_database(name)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "master_secret": MASTER_SECRET,
        "public_url": "http://testserver",
        "jobs_immediate": True,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return make_settings(data_dir, database_url=database_url)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A fully initialised runtime: keyring created, database migrated."""
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    rt = Runtime(settings)
    upgrade(rt.engine)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def engine(runtime: Runtime) -> Engine:
    return runtime.engine
