"""TOTP: enrolment, the two-step login, replay refusal, recovery codes, disabling, encryption at rest."""

from __future__ import annotations

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealpact.accounts.auth import PENDING_LOGIN_MAX_ATTEMPTS
from sealpact.accounts.models import PendingLogin, RecoveryCode, User
from sealpact.accounts.throttle import account_user_key
from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.test_accounts_support import PASSWORD, START, make_client, setup_accounts, totp_code, user_client


@pytest.fixture
def clock(runtime: Runtime) -> FrozenClock:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    return clock


def _enable_totp(client: TestClient, clock: FrozenClock) -> tuple[str, list[str]]:
    enroll = client.post("/api/v1/auth/totp/enroll")
    assert enroll.status_code == 200, enroll.text
    secret = enroll.json()["secret"]
    uri = enroll.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/") and "issuer=sealpact" in uri
    assert pyotp.parse_uri(uri).secret == secret
    confirm = client.post("/api/v1/auth/totp/confirm", json={"code": totp_code(secret, clock.now())})
    assert confirm.status_code == 200, confirm.text
    codes: list[str] = confirm.json()["recovery_codes"]
    return secret, codes


def _password_step(client: TestClient, email: str) -> str:
    response = client.post("/api/v1/auth/login", json={"identifier": email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "totp_required"
    assert "set-cookie" not in response.headers  # no session before the second factor
    token: str = body["pending_token"]
    return token


def test_enroll_login_and_replay(runtime: Runtime, clock: FrozenClock) -> None:
    client, user_id, _ = user_client(runtime, "amy@example.com")
    secret, codes = _enable_totp(client, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/api/v1/auth/session").json()["user"]["totp_enabled"] is True

    # The secret is encrypted at rest (field cipher), and recovery codes are stored hashed.
    with runtime.sessions() as db:
        user = db.get(User, user_id)
        assert user is not None and user.totp_secret_enc is not None
        assert secret not in user.totp_secret_enc and user.totp_secret_enc.startswith("sf1.")
        assert runtime.fields.decrypt(user.totp_secret_enc, purpose="accounts.totp") == secret
        stored = db.scalars(select(RecoveryCode.code_hash)).all()
        assert not set(stored) & set(codes)

    clock.advance(seconds=60)
    fresh = make_client(runtime)
    pending = _password_step(fresh, "amy@example.com")
    code = totp_code(secret, clock.now())
    ok = fresh.post("/api/v1/auth/login/totp", json={"pending_token": pending, "code": code})
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    assert fresh.get("/api/v1/auth/session").status_code == 200

    # The same code again, within its 30-second window, on a new login: refused as a replay.
    other = make_client(runtime)
    pending2 = _password_step(other, "amy@example.com")
    replay = other.post("/api/v1/auth/login/totp", json={"pending_token": pending2, "code": code})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "invalid_totp"
    # So is the previous step's code (still inside the skew window, but older than the last used).
    older = totp_code(secret, clock.now(), steps=-1)
    assert (
        other.post("/api/v1/auth/login/totp", json={"pending_token": pending2, "code": older}).status_code
        == 401
    )
    # The next step's code works.
    clock.advance(seconds=30)
    nxt = totp_code(secret, clock.now())
    assert (
        other.post("/api/v1/auth/login/totp", json={"pending_token": pending2, "code": nxt}).status_code
        == 200
    )


def test_pending_login_is_single_use_short_lived_and_attempt_limited(
    runtime: Runtime, clock: FrozenClock
) -> None:
    client, _, _ = user_client(runtime, "ben@example.com")
    secret, _ = _enable_totp(client, clock)

    clock.advance(seconds=30)
    c = make_client(runtime)
    pending = _password_step(c, "ben@example.com")
    assert (
        c.post(
            "/api/v1/auth/login/totp", json={"pending_token": pending, "code": totp_code(secret, clock.now())}
        ).status_code
        == 200
    )
    clock.advance(seconds=30)
    again = c.post(
        "/api/v1/auth/login/totp", json={"pending_token": pending, "code": totp_code(secret, clock.now())}
    )
    assert again.status_code == 401  # already used

    pending = _password_step(c, "ben@example.com")
    clock.advance(minutes=6)
    late = c.post(
        "/api/v1/auth/login/totp", json={"pending_token": pending, "code": totp_code(secret, clock.now())}
    )
    assert late.status_code == 401  # expired

    pending = _password_step(c, "ben@example.com")
    for _ in range(PENDING_LOGIN_MAX_ATTEMPTS - 1):
        assert (
            c.post("/api/v1/auth/login/totp", json={"pending_token": pending, "code": "000000"}).status_code
            == 401
        )
    # Reset the account counter's effect: only the pending token's own limit is under test here.
    runtime.accounts.deps.throttle.reset(account_user_key(_user_id(runtime, "ben@example.com")))
    assert (
        c.post("/api/v1/auth/login/totp", json={"pending_token": pending, "code": "000000"}).status_code
        == 401
    )
    clock.advance(seconds=30)
    spent = c.post(
        "/api/v1/auth/login/totp", json={"pending_token": pending, "code": totp_code(secret, clock.now())}
    )
    assert spent.status_code == 401
    with runtime.sessions() as db:
        assert all(
            p.used_at is not None or p.expires_at <= clock.now() for p in db.scalars(select(PendingLogin))
        )

    assert (
        c.post("/api/v1/auth/login/totp", json={"pending_token": "forged", "code": "123456"}).status_code
        == 401
    )


def _user_id(runtime: Runtime, email: str) -> str:
    with runtime.sessions() as db:
        user_id = db.scalars(select(User.id).where(User.email == email)).one()
    return user_id


def test_recovery_code_is_single_use(runtime: Runtime, clock: FrozenClock) -> None:
    client, _, _ = user_client(runtime, "cat@example.com")
    _secret, codes = _enable_totp(client, clock)
    c = make_client(runtime)
    pending = _password_step(c, "cat@example.com")
    used = c.post("/api/v1/auth/login/totp", json={"pending_token": pending, "code": codes[0].upper()})
    assert used.status_code == 200

    d = make_client(runtime)
    pending = _password_step(d, "cat@example.com")
    assert (
        d.post("/api/v1/auth/login/totp", json={"pending_token": pending, "code": codes[0]}).status_code
        == 401
    )
    assert (
        d.post("/api/v1/auth/login/totp", json={"pending_token": pending, "code": codes[1]}).status_code
        == 200
    )


def test_regenerate_and_disable(runtime: Runtime, clock: FrozenClock) -> None:
    client, user_id, _ = user_client(runtime, "dan@example.com")
    secret, codes = _enable_totp(client, clock)
    assert client.post("/api/v1/auth/totp/enroll").status_code == 409  # already enabled

    clock.advance(seconds=30)
    regen = client.post("/api/v1/auth/totp/recovery-codes", json={"code": totp_code(secret, clock.now())})
    assert regen.status_code == 200
    new_codes = regen.json()["recovery_codes"]
    assert not set(new_codes) & set(codes)

    wrong = client.post("/api/v1/auth/totp/disable", json={"code": codes[0]})  # an old, replaced code
    assert wrong.status_code == 401
    assert client.post("/api/v1/auth/totp/disable", json={"code": new_codes[0]}).status_code == 204
    with runtime.sessions() as db:
        user = db.get(User, user_id)
        assert user is not None and user.totp_secret_enc is None and user.totp_enabled_at is None
        assert db.scalars(select(RecoveryCode)).all() == []
    # Login is one step again.
    fresh = make_client(runtime)
    response = fresh.post("/api/v1/auth/login", json={"identifier": "dan@example.com", "password": PASSWORD})
    assert response.json()["status"] == "ok"


def test_confirm_needs_a_code_from_the_pending_secret(runtime: Runtime, clock: FrozenClock) -> None:
    client, _, _ = user_client(runtime, "eva@example.com")
    assert (
        client.post("/api/v1/auth/totp/confirm", json={"code": "123456"}).json()["error"]["code"]
        == "totp_state"
    )
    client.post("/api/v1/auth/totp/enroll")
    other_secret = pyotp.random_base32()
    bad = client.post("/api/v1/auth/totp/confirm", json={"code": totp_code(other_secret, clock.now())})
    assert bad.status_code == 401
    assert client.get("/api/v1/auth/session").json()["user"]["totp_enabled"] is False


def test_api_tokens_cannot_manage_totp(runtime: Runtime, clock: FrozenClock) -> None:
    client, _, _ = user_client(runtime, "fay@example.com")
    token = client.post("/api/v1/tokens", json={"name": "t", "scopes": ["admin"]}).json()["token"]
    bearer = make_client(runtime)
    response = bearer.post("/api/v1/auth/totp/enroll", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "session_required"
