"""The service skeleton: migrations, refusal to start unmigrated, /healthz, error shape, body limits."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from sealpact.db import DatabaseNotMigrated, current_revisions, make_engine, migration_heads
from sealpact.runtime import Runtime
from sealpact.web.app import create_app
from tests.conftest import make_settings


def test_migrations_reach_head(runtime: Runtime) -> None:
    assert current_revisions(runtime.engine) == migration_heads()


def test_models_match_migrations(runtime: Runtime) -> None:
    """Alembic's autogenerate finds nothing to do: the migrations create exactly the models' schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import sealpact.models  # noqa: F401
    from sealpact.db import Base

    with runtime.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_app_refuses_unmigrated_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(DatabaseNotMigrated, match="sealpact db upgrade"):
        create_app(Runtime(settings))
    assert not inspect(make_engine(settings.database_url)).get_table_names()


def test_healthz_ok(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) >= {"database", "keys"}
    assert response.headers["x-request-id"]


def test_unknown_route_has_error_shape(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_oversize_body_rejected_before_reading(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    limit = runtime.settings.max_request_bytes
    response = client.post("/healthz", content=b"x" * (limit + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_on_commit_runs_after_commit_and_never_after_rollback(runtime: Runtime) -> None:
    from sealpact.db import on_commit

    ran: list[str] = []
    with runtime.sessions() as session:
        on_commit(session, lambda: ran.append("rolled back"))
        session.rollback()
        session.commit()  # a later commit must not run the dropped callback
        on_commit(session, lambda: ran.append("committed"))
        assert ran == []
        session.commit()
    assert ran == ["committed"]
