"""Purging expired sessions, spent pending logins and stale throttle rows (never audit events)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from sealpact.accounts.housekeeping import KEEP_ENDED_SESSIONS
from sealpact.accounts.models import AuthSession, LoginThrottle, PendingLogin
from sealpact.audit.models import AuditEvent
from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.test_accounts_support import PASSWORD, START, make_client, register, setup_accounts, user_client


def _count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_purge_expired(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    accounts = setup_accounts(runtime, clock=clock)
    old, _, _ = user_client(runtime, "old@example.com")
    client = make_client(runtime)
    client.post("/api/v1/auth/login", json={"identifier": "nobody@example.com", "password": "wrong pass"})
    assert _count(runtime, LoginThrottle) == 2  # the account key and the IP key
    audit_before = _count(runtime, AuditEvent)

    # Nothing is due yet.
    assert accounts.purge_expired() == {"sessions": 0, "pending_logins": 0, "login_throttle": 0}

    clock.advance(seconds=runtime.settings.session_ttl_seconds)
    clock.advance(seconds=KEEP_ENDED_SESSIONS.total_seconds() + 1)
    register(client, "new@example.com")
    fresh, _, _ = user_client(runtime, "fresh@example.com")
    # A pending second-factor login that is never finished.
    with runtime.sessions() as db, db.begin():
        db.add(
            PendingLogin(
                user_id=db.scalars(select(AuthSession.user_id)).first(),
                token_hash="0" * 64,
                created_at=clock.now() - timedelta(minutes=10),
                expires_at=clock.now() - timedelta(minutes=5),
                attempts=0,
            )
        )
    result = accounts.purge_expired()
    assert result == {"sessions": 1, "pending_logins": 1, "login_throttle": 2}
    assert fresh.get("/api/v1/auth/session").status_code == 200  # live sessions stay
    assert old.get("/api/v1/auth/session").status_code == 401
    assert _count(runtime, AuditEvent) >= audit_before  # the audit trail is never purged
    assert (
        client.post(
            "/api/v1/auth/login", json={"identifier": "new@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_purge_runs_as_a_periodic_job(runtime: Runtime) -> None:
    from sealpact.jobs.registry import JobContext, load_tasks

    spec = load_tasks().get("accounts.purge_expired")
    assert spec.periodic and spec.every_minutes == 30
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    make_client(runtime).post(
        "/api/v1/auth/login", json={"identifier": "nobody@example.com", "password": "wrong pass"}
    )
    assert _count(runtime, LoginThrottle) == 2
    clock.advance(days=2)
    spec.func(JobContext(runtime, "job-1", spec.name, 1, 1, None))
    assert _count(runtime, LoginThrottle) == 0
