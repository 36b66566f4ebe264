"""Personal API tokens: shown once, stored hashed, scoped, revocable, expiring, last use recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sealpact.accounts.models import ApiToken
from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.test_accounts_support import START, make_client, setup_accounts, user_client


@pytest.fixture
def clock(runtime: Runtime) -> FrozenClock:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    return clock


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_create_use_scope_and_revoke(runtime: Runtime, clock: FrozenClock) -> None:
    client, user_id, _ = user_client(runtime, "ann@example.com")
    created = client.post("/api/v1/tokens", json={"name": "reporting", "scopes": ["read"]})
    assert created.status_code == 201
    body = created.json()
    secret = body["token"]
    assert secret.startswith("spk_") and len(secret) > 40
    assert body["prefix"] == secret[:12] and body["scopes"] == ["read"]

    # Stored as SHA-256 only; the list never shows the secret again.
    with runtime.sessions() as db:
        row = db.scalars(select(ApiToken)).one()
        assert secret not in row.token_hash and len(row.token_hash) == 64
    listing = client.get("/api/v1/tokens")
    assert listing.status_code == 200 and secret not in listing.text

    api = make_client(runtime)  # no cookie: bearer only, no CSRF needed
    session = api.get("/api/v1/auth/session", headers=_bearer(secret))
    assert session.status_code == 200
    assert session.json()["via"] == "token" and session.json()["csrf_token"] is None
    assert session.json()["user"]["id"] == user_id
    assert api.get("/api/v1/orgs", headers=_bearer(secret)).status_code == 200

    # A read token may not write, nor manage tokens.
    denied = api.post("/api/v1/orgs", json={"name": "Nope"}, headers=_bearer(secret))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "insufficient_scope"
    assert api.get("/api/v1/tokens", headers=_bearer(secret)).status_code == 403

    revoked = client.delete(f"/api/v1/tokens/{body['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    gone = api.get("/api/v1/orgs", headers=_bearer(secret))
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "not_authenticated"


def test_write_token_writes_without_csrf(runtime: Runtime, clock: FrozenClock) -> None:
    client, _, _ = user_client(runtime, "bo@example.com")
    secret = client.post("/api/v1/tokens", json={"name": "ci", "scopes": ["write"]}).json()["token"]
    api = make_client(runtime)
    response = api.post("/api/v1/orgs", json={"name": "Acme"}, headers=_bearer(secret))
    assert response.status_code == 201
    # write implies read, not admin.
    assert api.get("/api/v1/orgs", headers=_bearer(secret)).status_code == 200
    assert (
        api.post(
            "/api/v1/tokens", json={"name": "x", "scopes": ["read"]}, headers=_bearer(secret)
        ).status_code
        == 403
    )


def test_token_cannot_escalate_and_admin_token_mints_narrower(runtime: Runtime, clock: FrozenClock) -> None:
    client, _, _ = user_client(runtime, "cy@example.com")
    admin = client.post("/api/v1/tokens", json={"name": "root", "scopes": ["admin"]}).json()["token"]
    api = make_client(runtime)
    child = api.post("/api/v1/tokens", json={"name": "child", "scopes": ["read"]}, headers=_bearer(admin))
    assert child.status_code == 201
    child_secret = child.json()["token"]
    # The read-only child cannot mint anything (needs admin), let alone write tokens.
    escalate = api.post(
        "/api/v1/tokens", json={"name": "x", "scopes": ["write"]}, headers=_bearer(child_secret)
    )
    assert escalate.status_code == 403


def test_other_users_token_is_not_found(runtime: Runtime, clock: FrozenClock) -> None:
    alice, _, _ = user_client(runtime, "dee@example.com")
    mallory, _, _ = user_client(runtime, "mal@example.com")
    token_id = alice.post("/api/v1/tokens", json={"name": "a", "scopes": ["read"]}).json()["id"]
    response = mallory.delete(f"/api/v1/tokens/{token_id}")
    assert response.status_code == 404
    assert alice.get("/api/v1/tokens").json()[0]["revoked_at"] is None
    assert mallory.get("/api/v1/tokens").json() == []


def test_expiry_and_throttled_last_used(runtime: Runtime, clock: FrozenClock) -> None:
    client, _, _ = user_client(runtime, "eli@example.com")
    created = client.post(
        "/api/v1/tokens", json={"name": "short", "scopes": ["read"], "expires_in_days": 1}
    ).json()
    secret, token_id = created["token"], created["id"]
    api = make_client(runtime)

    def last_used() -> object:
        with runtime.sessions() as db:
            return db.get(ApiToken, token_id).last_used_at  # type: ignore[union-attr]

    assert last_used() is None
    assert api.get("/api/v1/orgs", headers=_bearer(secret)).status_code == 200
    first = last_used()
    assert first == clock.now()
    clock.advance(seconds=30)
    api.get("/api/v1/orgs", headers=_bearer(secret))
    assert last_used() == first  # not rewritten within the minute
    clock.advance(seconds=31)
    api.get("/api/v1/orgs", headers=_bearer(secret))
    assert last_used() == clock.now()

    clock.advance(days=1)
    assert api.get("/api/v1/orgs", headers=_bearer(secret)).status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Bearer spk_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer something-else"],
)
def test_bad_authorization_headers(runtime: Runtime, clock: FrozenClock, header: str) -> None:
    response = make_client(runtime).get("/api/v1/orgs", headers={"Authorization": header})
    assert response.status_code == 401


def test_token_input_validation(runtime: Runtime, clock: FrozenClock) -> None:
    client, _, _ = user_client(runtime, "fin@example.com")
    assert client.post("/api/v1/tokens", json={"name": "x", "scopes": []}).status_code == 422
    assert client.post("/api/v1/tokens", json={"name": "x", "scopes": ["root"]}).status_code == 422
    assert client.post("/api/v1/tokens", json={"name": "   ", "scopes": ["read"]}).status_code == 422
    with runtime.sessions() as db:
        assert db.scalars(select(ApiToken)).all() == []
