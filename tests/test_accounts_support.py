"""Helpers shared by the accounts tests (no tests here).

Argon2id runs for real everywhere, with cheaper parameters than production so the suite stays fast;
``test_accounts_api`` checks the production parameters separately (rehash on login).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pyotp
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from sealpact.accounts.passwords import Passwords
from sealpact.accounts.service import Accounts, build_accounts
from sealpact.accounts.throttle import ThrottleStore
from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from sealpact.web.app import create_app

PASSWORD = "correct horse battery staple"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
START = datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)


def setup_accounts(
    runtime: Runtime,
    *,
    clock: FrozenClock | None = None,
    hasher: PasswordHasher = FAST_HASHER,
    throttle: ThrottleStore | None = None,
) -> Accounts:
    """Build runtime.accounts with test choices (a frozen clock, cheap Argon2, another throttle store)."""
    if clock is not None:
        runtime.clock = clock
    accounts = build_accounts(runtime, passwords=Passwords(hasher))
    if throttle is not None:
        accounts = Accounts(replace(accounts.deps, throttle=throttle))
    runtime.__dict__["accounts"] = accounts
    return accounts


def make_client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def register(client: TestClient, email: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def login(client: TestClient, identifier: str, password: str = PASSWORD) -> str:
    """Log ``client`` in (it keeps the cookie); returns the CSRF token."""
    response = client.post("/api/v1/auth/login", json={"identifier": identifier, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    csrf: str = body["csrf_token"]
    return csrf


def user_client(runtime: Runtime, email: str) -> tuple[TestClient, str, str]:
    """A new client with a registered, logged-in user: (client, user id, CSRF token)."""
    client = make_client(runtime)
    user_id = register(client, email)
    csrf = login(client, email)
    client.headers["X-CSRF-Token"] = csrf
    return client, user_id, csrf


def totp_code(secret: str, at: datetime, steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return str(totp.generate_otp(int(totp.timecode(at)) + steps))
