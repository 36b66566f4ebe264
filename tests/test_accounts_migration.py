"""The 0002 migration goes down and up again cleanly on SQLite and PostgreSQL (triggers included)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from sealpact.db import alembic_config, make_engine, upgrade

ACCOUNT_TABLES = {
    "users",
    "recovery_codes",
    "organizations",
    "memberships",
    "auth_sessions",
    "pending_logins",
    "api_tokens",
    "login_throttle",
    "audit_events",
}


def _downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_0002_down_and_up(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0002_accounts")
        assert set(inspect(engine).get_table_names()) >= ACCOUNT_TABLES
        _downgrade(engine, "0001_storage")
        assert not ACCOUNT_TABLES & set(inspect(engine).get_table_names())
        upgrade(engine, "0002_accounts")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_events (id, occurred_at, actor_kind, action, details) "
                    "VALUES ('e1', CURRENT_TIMESTAMP, 'system', 'test', '{}')"
                )
            )
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_events"))
    finally:
        engine.dispose()
