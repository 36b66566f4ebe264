"""Audit events: written with the change they record, append-only in the database, canonical bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from sealpact.audit import (
    Actor,
    AuditDetailsError,
    canonical_bytes,
    events_for,
    mask_email,
    mask_identifier,
    mask_mobile,
    record,
)
from sealpact.audit.models import AuditEvent
from sealpact.clock import FrozenClock
from sealpact.context import RequestContext
from sealpact.db import transaction
from sealpact.runtime import Runtime
from tests.test_accounts_support import PASSWORD, START, make_client, register, setup_accounts

CTX = RequestContext(ip="192.0.2.10", user_agent="pytest-agent/1.0", request_id="req-0123456789")


def test_masks() -> None:
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_mobile("+8613812345678") == "138****5678"
    assert mask_identifier("bob@example.org") == "b***@example.org"
    assert mask_identifier("13900001111") == "139****1111"
    assert mask_email("nonsense") == "***"


def test_record_commits_and_rolls_back_with_the_change(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    with transaction(runtime.sessions) as session:
        event = record(
            session, CTX, clock, action="test.done", actor=Actor.system(), object_type="thing", object_id="t1"
        )
        assert event.seq is not None  # assigned inside the transaction

    with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
        record(session, CTX, clock, action="test.undone", actor=Actor.system())
        raise RuntimeError("the change failed")

    with runtime.sessions() as session:
        rows = events_for(session)
    assert [r.action for r in rows] == ["test.done"]
    row = rows[0]
    assert (row.ip, row.user_agent, row.request_id) == ("192.0.2.10", "pytest-agent/1.0", "req-0123456789")
    assert row.occurred_at == START and row.actor_kind == "system"


def test_details_refuse_secrets(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    for details in ({"password": "hunter2"}, {"new_password_hint": "x"}, {"totp_secret": "x"}, {"pin": "1"}):
        with pytest.raises(AuditDetailsError), transaction(runtime.sessions) as session:
            record(session, CTX, clock, action="bad", actor=Actor.system(), details=details)
    with pytest.raises(AuditDetailsError), transaction(runtime.sessions) as session:
        record(session, CTX, clock, action="big", actor=Actor.system(), details={"blob": "x" * 5000})
    with runtime.sessions() as session:
        assert events_for(session) == []


def test_audit_table_is_append_only(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    with transaction(runtime.sessions) as session:
        record(session, CTX, clock, action="test.kept", actor=Actor.system())
    statements = [
        "UPDATE audit_events SET action = 'test.rewritten'",
        "DELETE FROM audit_events",
    ]
    if runtime.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_events")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), runtime.engine.begin() as connection:
            connection.execute(text(statement))
    with runtime.sessions() as session:
        assert [e.action for e in events_for(session)] == ["test.kept"]
    # The ORM is refused the same way.
    with pytest.raises(DBAPIError), transaction(runtime.sessions) as session:
        event = session.scalars(select(AuditEvent)).one()
        event.action = "test.orm-rewrite"


def test_sequence_is_monotonic_and_serialisation_canonical(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    for n in range(5):
        with transaction(runtime.sessions) as session:
            record(
                session, CTX, clock, action=f"test.{n}", actor=Actor.user("u-1"), details={"n": n, "a": "中"}
            )
        clock.advance(seconds=1)
    with runtime.sessions() as session:
        events = events_for(session)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5

    first = events[0]
    encoded = canonical_bytes(first)
    assert encoded == canonical_bytes(first)  # deterministic
    decoded = json.loads(encoded)
    assert list(decoded) == sorted(decoded)  # sorted keys
    assert b" " not in encoded.replace(b"pytest-agent/1.0", b"")  # no insignificant whitespace
    assert "中".encode() in encoded  # UTF-8, not \u escapes
    assert decoded == {
        "v": 1,
        "seq": first.seq,
        "id": first.id,
        "occurred_at": "2026-03-01T09:00:00.000000Z",
        "actor": {"kind": "user", "user_id": "u-1", "token_id": None},
        "action": "test.0",
        "object": {"type": None, "id": None},
        "organization_id": None,
        "ip": "192.0.2.10",
        "user_agent": "pytest-agent/1.0",
        "request_id": "req-0123456789",
        "details": {"a": "中", "n": 0},
    }


def test_canonical_bytes_vector() -> None:
    """A fixed event serialises to exactly these bytes (the evidence log will hash them)."""
    event = AuditEvent(
        seq=7,
        id="00000000-0000-4000-8000-000000000007",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
        actor_kind="api_token",
        actor_user_id="u",
        actor_token_id="t",
        action="token.created",
        object_type="api_token",
        object_id="t",
        organization_id=None,
        ip=None,
        user_agent=None,
        request_id=None,
        details='{"scopes":["read"]}',
    )
    assert canonical_bytes(event) == (
        b'{"action":"token.created","actor":{"kind":"api_token","token_id":"t","user_id":"u"},'
        b'"details":{"scopes":["read"]},"id":"00000000-0000-4000-8000-000000000007","ip":null,'
        b'"object":{"id":"t","type":"api_token"},"occurred_at":"2026-01-02T03:04:05.600000Z",'
        b'"organization_id":null,"request_id":null,"seq":7,"user_agent":null,"v":1}'
    )


def test_account_actions_are_audited_with_request_context(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    client = make_client(runtime)
    headers = {"User-Agent": "audit-test/2.0", "X-Request-ID": "audit-req-000001"}
    user_id = register(client, "auditee@example.com")
    client.post(
        "/api/v1/auth/login",
        json={"identifier": "auditee@example.com", "password": "wrong!!"},
        headers=headers,
    )
    ok = client.post(
        "/api/v1/auth/login",
        json={"identifier": "auditee@example.com", "password": PASSWORD},
        headers=headers,
    )
    csrf = ok.json()["csrf_token"]
    token = client.post(
        "/api/v1/tokens", json={"name": "t", "scopes": ["read"]}, headers={"X-CSRF-Token": csrf}
    )
    # A duplicate registration changes nothing, so it records nothing either.
    client.post("/api/v1/auth/register", json={"email": "auditee@example.com", "password": PASSWORD})

    with runtime.sessions() as session:
        events = events_for(session)
    assert [e.action for e in events] == [
        "user.registered",
        "auth.login_failed",
        "auth.login",
        "token.created",
    ]
    registered, failed, login, created = events
    assert registered.object_id == user_id and registered.actor_user_id == user_id
    assert failed.actor_kind == "anonymous" and failed.object_id == user_id
    assert (login.user_agent, login.request_id, login.ip) == (
        "audit-test/2.0",
        "audit-req-000001",
        "testclient",
    )
    assert created.object_id == token.json()["id"]
    for event in events:
        blob = canonical_bytes(event).decode()
        assert "auditee@example.com" not in blob  # masked, never the raw identifier
        assert PASSWORD not in blob and token.json()["token"] not in blob
    assert json.loads(registered.details)["identifier"] == "a***@example.com"
