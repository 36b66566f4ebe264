"""Expiry and reminders as scheduled jobs: driven by an injected clock, idempotent when re-run."""

from __future__ import annotations

from sealpact.accounts.principal import Principal
from sealpact.clock import FrozenClock
from sealpact.contracts import sweeps
from sealpact.jobs.registry import load_tasks
from sealpact.runtime import Runtime
from tests.test_accounts_support import START, setup_accounts
from tests.test_contracts_support import draft, last_link, party, sender, sms_to

A = "13800000001"
B = "13800000002"


def _links(runtime: Runtime, mobile: str) -> int:
    return len([t for t in sms_to(runtime, mobile) if "/sign#" in t])


def test_contracts_expire_once_when_due(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    client, user_id = sender(runtime)
    me = Principal(user_id, False, "session", session_id="test")
    cid = draft(client, [party("甲", A)], expiry_days=3)["id"]
    sent = client.post(f"/api/v1/contracts/{cid}/send").json()
    assert sent["expires_at"].startswith("2026-03-04T09:00:00")
    clock.advance(days=3, seconds=-1)
    assert sweeps.expire_due(runtime) == 0
    clock.advance(seconds=1)
    assert sweeps.expire_due(runtime) == 1
    assert sweeps.expire_due(runtime) == 0  # idempotent
    assert runtime.contracts.get(me, cid).status == "expired"  # (the sender's login session expired too)
    from fastapi.testclient import TestClient

    assert (
        TestClient(client.app).post("/api/v1/signing/open", json={"token": last_link(runtime, A)}).status_code
        == 401
    )
    assert any("过期" in text for text in sms_to(runtime, A))
    kinds = [e["kind"] for e in runtime.contracts.events(me, cid)]
    assert kinds.count("expired") == 1


def test_reminders_every_n_days_only_to_active_parties(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    client, user_id = sender(runtime)
    cid = draft(client, [party("甲", A), party("乙", B, order=2)], reminder_every_days=2)["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    assert (_links(runtime, A), _links(runtime, B)) == (1, 0)
    clock.advance(days=1)
    assert sweeps.remind_due(runtime) == 0
    clock.advance(days=1)
    assert sweeps.remind_due(runtime) == 1
    assert sweeps.remind_due(runtime) == 0  # same time again: nothing new
    assert (_links(runtime, A), _links(runtime, B)) == (2, 0)
    clock.advance(days=2)
    assert sweeps.remind_due(runtime) == 1
    assert _links(runtime, A) == 3
    assert runtime.contracts.get(Principal(user_id, False, "session", session_id="t"), cid).status == "sent"


def test_contracts_without_reminders_are_left_alone(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A)])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    clock.advance(days=10)
    assert sweeps.remind_due(runtime) == 0


def test_the_sweeps_are_registered_periodic_jobs() -> None:
    registry = load_tasks()
    for name in ("contracts.expire", "contracts.remind"):
        assert registry.get(name).periodic
