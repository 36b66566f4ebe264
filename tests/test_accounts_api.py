"""Registration, login, sessions, CSRF, logout and password changes through the HTTP API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from sealpact.accounts.auth import SESSION_IDLE_TIMEOUT
from sealpact.accounts.models import AuthSession, User
from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.test_accounts_support import (
    PASSWORD,
    START,
    login,
    make_client,
    register,
    setup_accounts,
    user_client,
)


@pytest.fixture
def clock(runtime: Runtime) -> FrozenClock:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    return clock


def test_register_login_session_logout(runtime: Runtime, clock: FrozenClock) -> None:
    client = make_client(runtime)
    response = client.post(
        "/api/v1/auth/register", json={"email": " Alice@Example.COM ", "password": PASSWORD}
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "alice@example.com"
    assert user["is_platform_admin"] is False
    assert "password" not in response.text

    # Not logged in yet.
    assert client.get("/api/v1/auth/session").status_code == 401

    response = client.post(
        "/api/v1/auth/login", json={"identifier": "ALICE@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["user_id"] == user["id"]
    cookie = response.headers["set-cookie"]
    assert "sealpact_session=" in cookie
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # development over plain HTTP

    session = client.get("/api/v1/auth/session").json()
    assert session["user"]["id"] == user["id"]
    assert session["via"] == "session"
    assert session["csrf_token"] == body["csrf_token"]

    # Only the SHA-256 of the cookie value is stored.
    token = client.cookies["sealpact_session"]
    with runtime.sessions() as db:
        stored = db.scalars(select(AuthSession.token_hash)).all()
    assert token not in stored and len(stored) == 1

    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert response.status_code == 204
    # The old cookie value no longer works even if a client replays it.
    client.cookies.set("sealpact_session", token)
    assert client.get("/api/v1/auth/session").status_code == 401


def test_register_by_mobile_normalises_plus86(runtime: Runtime, clock: FrozenClock) -> None:
    client = make_client(runtime)
    response = client.post(
        "/api/v1/auth/register", json={"mobile": "+86 138-0013-8000", "password": PASSWORD}
    )
    assert response.status_code == 201
    assert response.json()["mobile"] == "13800138000"
    assert login(client, "13800138000")
    assert login(client, "+8613800138000")
    duplicate = client.post("/api/v1/auth/register", json={"mobile": "13800138000", "password": PASSWORD})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "already_registered"


def test_duplicate_registration_conflicts_without_detail(runtime: Runtime, clock: FrozenClock) -> None:
    client = make_client(runtime)
    register(client, "bob@example.com")
    response = client.post(
        "/api/v1/auth/register", json={"email": "BOB@example.com", "password": "other password 1"}
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "already_registered"
    assert "bob" not in error["message"]
    with runtime.sessions() as db:
        assert len(db.scalars(select(User)).all()) == 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "invalid_identifier"),
        ({"email": "a@b", "password": PASSWORD}, "invalid_identifier"),
        ({"mobile": "12800138000", "password": PASSWORD}, "invalid_identifier"),  # second digit 2
        ({"mobile": "1380013800", "password": PASSWORD}, "invalid_identifier"),  # 10 digits
        ({"mobile": "１３８００１３８０００", "password": PASSWORD}, "invalid_identifier"),  # full-width
        ({"email": "carol@example.com", "password": "short"}, "weak_password"),
        ({"email": "carol@example.com", "password": "carol@example.com"}, "weak_password"),
        ({"mobile": "13900139000", "password": "13900139000"}, "weak_password"),
        ({"email": "carol@example.com", "mobile": "13900139000", "password": PASSWORD}, "invalid_input"),
        ({"password": PASSWORD}, "invalid_input"),
        ({"email": "carol@example.com", "password": PASSWORD, "admin": True}, "invalid_input"),
    ],
)
def test_malformed_registration_rejected(
    runtime: Runtime, clock: FrozenClock, payload: dict[str, object], code: str
) -> None:
    client = make_client(runtime)
    response = client.post("/api/v1/auth/register", json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert PASSWORD not in response.text and "13900139000" not in response.text
    with runtime.sessions() as db:
        assert db.scalars(select(User)).all() == []  # nothing half-written


def test_wrong_password_and_unknown_user_look_the_same(runtime: Runtime, clock: FrozenClock) -> None:
    client = make_client(runtime)
    register(client, "dave@example.com")
    wrong = client.post(
        "/api/v1/auth/login", json={"identifier": "dave@example.com", "password": "nope nope nope"}
    )
    unknown = client.post(
        "/api/v1/auth/login", json={"identifier": "eve@example.com", "password": "nope nope nope"}
    )
    malformed = client.post("/api/v1/auth/login", json={"identifier": "???", "password": "nope nope nope"})
    for response in (wrong, unknown, malformed):
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
    assert wrong.json() == unknown.json() == malformed.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_login_refuses_form_and_text_bodies(runtime: Runtime, clock: FrozenClock) -> None:
    """Login CSRF: a cross-site HTML form cannot send JSON, so it cannot log a victim in."""
    client = make_client(runtime)
    register(client, "form@example.com")
    payload = json.dumps({"identifier": "form@example.com", "password": PASSWORD})
    as_text = client.post("/api/v1/auth/login", content=payload, headers={"Content-Type": "text/plain"})
    as_form = client.post("/api/v1/auth/login", data={"identifier": "form@example.com", "password": PASSWORD})
    for response in (as_text, as_form):
        assert response.status_code == 422
        assert "set-cookie" not in response.headers


def test_csrf_required_for_cookie_state_changes(runtime: Runtime, clock: FrozenClock) -> None:
    client, _user_id, csrf = user_client(runtime, "frank@example.com")
    del client.headers["X-CSRF-Token"]
    missing = client.post("/api/v1/orgs", json={"name": "Acme"})
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_failed"
    wrong_token = csrf[:-1] + ("1" if csrf[-1] == "0" else "0")  # always differs from the real token
    wrong = client.post("/api/v1/orgs", json={"name": "Acme"}, headers={"X-CSRF-Token": wrong_token})
    assert wrong.status_code == 403
    # Logout is a state change too.
    assert client.post("/api/v1/auth/logout").status_code == 403
    # Reads need no token; the right token is accepted as header ...
    assert client.get("/api/v1/orgs").status_code == 200
    assert (
        client.post("/api/v1/orgs", json={"name": "Acme"}, headers={"X-CSRF-Token": csrf}).status_code == 201
    )
    # ... or as a form field (HTML forms cannot set headers).
    form = client.post("/api/v1/auth/logout", data={"csrf_token": csrf})
    assert form.status_code == 204
    # A CSRF token belongs to its session: another session's token is refused.
    other, _, _ = user_client(runtime, "grace@example.com")
    del other.headers["X-CSRF-Token"]
    assert other.post("/api/v1/orgs", json={"name": "X"}, headers={"X-CSRF-Token": csrf}).status_code == 403


def test_session_expiry_and_idle_timeout(runtime: Runtime, clock: FrozenClock) -> None:
    client, _user_id, _csrf = user_client(runtime, "heidi@example.com")
    clock.advance(seconds=SESSION_IDLE_TIMEOUT.total_seconds() - 60)
    assert client.get("/api/v1/auth/session").status_code == 200  # use refreshes the idle timer
    clock.advance(seconds=SESSION_IDLE_TIMEOUT.total_seconds() - 60)
    assert client.get("/api/v1/auth/session").status_code == 200
    clock.advance(seconds=SESSION_IDLE_TIMEOUT.total_seconds() + 1)
    assert client.get("/api/v1/auth/session").status_code == 401

    client2, _user_id, _csrf = user_client(runtime, "ivan@example.com")
    ttl = runtime.settings.session_ttl_seconds
    # Keep it busy so only the absolute lifetime can end it.
    step = timedelta(seconds=SESSION_IDLE_TIMEOUT.total_seconds() / 2)
    elapsed = timedelta(0)
    while elapsed + step < timedelta(seconds=ttl):
        clock.advance(seconds=step.total_seconds())
        elapsed += step
        assert client2.get("/api/v1/auth/session").status_code == 200
    clock.advance(seconds=step.total_seconds())
    assert client2.get("/api/v1/auth/session").status_code == 401


def test_password_change_revokes_every_session(runtime: Runtime, clock: FrozenClock) -> None:
    laptop, _user_id, _csrf = user_client(runtime, "judy@example.com")
    phone = make_client(runtime)
    login(phone, "judy@example.com")
    new_password = "a brand new passphrase"

    wrong = laptop.post(
        "/api/v1/auth/password", json={"current_password": "not it at all", "new_password": new_password}
    )
    assert wrong.status_code == 401
    weak = laptop.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "judy@example.com"}
    )
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"

    response = laptop.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": new_password}
    )
    assert response.status_code == 200
    laptop.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    assert laptop.get("/api/v1/auth/session").status_code == 200  # the new cookie was set
    assert phone.get("/api/v1/auth/session").status_code == 401  # every other session ended

    fresh = make_client(runtime)
    assert (
        fresh.post(
            "/api/v1/auth/login", json={"identifier": "judy@example.com", "password": PASSWORD}
        ).status_code
        == 401
    )
    assert login(fresh, "judy@example.com", new_password)


def test_password_rehashed_on_login_when_parameters_change(runtime: Runtime, clock: FrozenClock) -> None:
    weak_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    setup_accounts(runtime, clock=clock, hasher=weak_hasher)
    client = make_client(runtime)
    user_id = register(client, "kim@example.com")
    with runtime.sessions() as db:
        before = db.get(User, user_id).password_hash  # type: ignore[union-attr]
    assert "m=8192,t=1" in before

    stronger = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    setup_accounts(runtime, clock=clock, hasher=stronger)
    login(make_client(runtime), "kim@example.com")
    with runtime.sessions() as db:
        after = db.get(User, user_id).password_hash  # type: ignore[union-attr]
    assert after.startswith("$argon2id$") and "m=16384,t=2" in after
    assert not stronger.check_needs_rehash(after)
    assert login(make_client(runtime), "kim@example.com")


def test_cookie_is_secure_in_production(runtime: Runtime) -> None:
    settings = make_settings(
        runtime.settings.data_dir, env="production", database_url=runtime.settings.database_url
    )
    production = Runtime(settings)
    try:
        setup_accounts(production)
        client = make_client(production)
        register(client, "leo@example.com")
        response = client.post(
            "/api/v1/auth/login", json={"identifier": "leo@example.com", "password": PASSWORD}
        )
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("__Host-sealpact_session=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    finally:
        production.close()


def test_openapi_documents_the_auth_api(runtime: Runtime, clock: FrozenClock) -> None:
    schema = make_client(runtime).get("/openapi.json").json()
    for path in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/login/totp", "/api/v1/tokens"):
        assert path in schema["paths"]
    assert "RegisterIn" in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/tokens"]["post"]["security"] == [{"HTTPBearer": []}]
