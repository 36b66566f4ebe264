"""The embedded default: no provider URL configured, the sandbox authority is mounted in the app itself.

Covers a three-element verification with its SMS code read from the mounted sandbox inbox, and the
face page redirect + signed callback going through the same server (real HTTP on loopback).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from sealpact.db import upgrade
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider
from sealpact.web.app import create_app
from tests.conftest import MASTER_SECRET, make_settings
from tests.live_server import LiveServer, free_port
from tests.test_accounts_support import PASSWORD, setup_accounts
from tests.test_identity_support import ZHANG, ZHANG_MOBILE


def test_embedded_sandbox_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = make_settings(data_dir, public_url=f"http://127.0.0.1:{port}")
    assert settings.identity_provider == "sandbox" and settings.identity_provider_url is None
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    runtime = Runtime(settings)
    upgrade(runtime.engine)
    setup_accounts(runtime)
    try:
        with (
            LiveServer(create_app(runtime), port) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            assert httpx.get(f"{server.url}/sandbox-authority/").json()["sandbox"] is True
            client.post("/api/v1/auth/register", json={"email": "e@example.com", "password": PASSWORD})
            login = client.post(
                "/api/v1/auth/login", json={"identifier": "e@example.com", "password": PASSWORD}
            )
            client.headers["X-CSRF-Token"] = login.json()["csrf_token"]

            v = client.post(
                "/api/v1/identity/individual/mobile3",
                json={"name": "张三", "id_number": ZHANG.id_number, "mobile": ZHANG_MOBILE},
            ).json()
            inbox = httpx.get(
                f"{server.url}/sandbox-authority/sandbox/sms", params={"mobile": ZHANG_MOBILE}
            ).json()
            code = inbox["messages"][-1]["text"].split("验证码为 ")[1][:6]
            done = client.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": code})
            assert done.json()["status"] == "verified"

            face = client.post(
                "/api/v1/identity/individual/face", json={"name": "张三", "id_number": ZHANG.id_number}
            ).json()
            assert face["redirect_url"].startswith(f"{server.url}/sandbox-authority/face/")
            back = httpx.post(face["redirect_url"], data={"outcome": "self"})
            assert back.status_code == 303
            state = client.get("/api/v1/identity/status").json()
            assert (state["state"], state["level"], state["sandbox"]) == ("verified", 3, True)
    finally:
        runtime.close()
