"""Helpers for the identity tests (no tests here): a platform and a sandbox authority, both live on loopback.

The platform's runtime points at a separately served sandbox authority (real HTTP both ways: the
platform calls the sandbox with signed requests; the sandbox's face page calls the platform back).
Both share one FrozenClock so expiry can be tested without sleeping, and signatures still verify.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sealpact.clock import FrozenClock
from sealpact.db import upgrade
from sealpact.identity.sandbox import SandboxAuthority, create_sandbox_app, default_registry
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider
from sealpact.web.app import create_app
from tests.conftest import MASTER_SECRET, make_settings
from tests.live_server import LiveServer, free_port
from tests.test_accounts_support import PASSWORD, setup_accounts

KEY_ID = "sealpact-test"
SECRET = "identity-test-secret-" + "z" * 20
REGISTRY = default_registry()
ZHANG, LI, WANG = REGISTRY.persons
ZHANG_MOBILE, LI_MOBILE = "13800138000", "13912345678"
ZHANG_CARD = REGISTRY.bank_cards[0].card_number
ENTERPRISE = REGISTRY.enterprises[0]
ACCOUNT = REGISTRY.accounts[0]


@dataclass
class Env:
    runtime: Runtime
    clock: FrozenClock
    authority: SandboxAuthority
    platform_url: str
    sandbox_url: str
    data_dir: Path

    def client(self, email: str | None = None) -> tuple[httpx.Client, str]:
        """A logged-in browser-like client for a new user: (client, user id)."""
        email = email or f"u{secrets.token_hex(4)}@example.com"
        client = httpx.Client(base_url=self.platform_url, timeout=30)
        response = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.text
        user_id: str = response.json()["id"]
        login = client.post("/api/v1/auth/login", json={"identifier": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        return client, user_id

    def login(self, email: str) -> httpx.Client:
        """A new logged-in client for an existing user (sessions expire when the clock moves on)."""
        client = httpx.Client(base_url=self.platform_url, timeout=30)
        login = client.post("/api/v1/auth/login", json={"identifier": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        return client

    def sms_codes(self, mobile: str) -> list[str]:
        inbox = httpx.get(f"{self.sandbox_url}/sandbox/sms", params={"mobile": mobile}).json()
        assert inbox["sandbox"] is True
        return [m["text"].split("验证码为 ")[1][:6] for m in inbox["messages"]]

    def transfers(self, account_number: str) -> list[dict[str, Any]]:
        body = httpx.get(
            f"{self.sandbox_url}/sandbox/transfers", params={"account_number": account_number}
        ).json()
        transfers: list[dict[str, Any]] = body["transfers"]
        return transfers

    def fault(self, path_prefix: str, status: int = 503, count: int = 1) -> None:
        httpx.post(
            f"{self.sandbox_url}/sandbox/faults",
            json={"path_prefix": path_prefix, "status": status, "count": count},
        )


def identity_env(database_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Env]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    authority = SandboxAuthority(clients={KEY_ID: SECRET.encode()}, registry=REGISTRY, clock=clock)
    port = free_port()
    with LiveServer(create_sandbox_app(authority)) as sandbox:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        settings = make_settings(
            data_dir,
            database_url=database_url,
            public_url=f"http://127.0.0.1:{port}",
            identity_provider="sandbox",
            identity_provider_url=sandbox.url,
            identity_provider_key_id=KEY_ID,
            identity_provider_secret=SECRET,
            identity_retries=1,
            **overrides,
        )
        KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
        runtime = Runtime(settings, clock=clock)
        upgrade(runtime.engine)
        setup_accounts(runtime, clock=clock)
        try:
            with LiveServer(create_app(runtime), port) as platform:
                yield Env(runtime, clock, authority, platform.url, sandbox.url, data_dir)
        finally:
            runtime.close()


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["error"]["code"], body["error"]["message"]
