"""Two real `sealpact serve` processes against one PostgreSQL + SeaweedFS (S3) + Redis.

Nothing that matters may live in one process: a login made through one process is valid on the
other, a file written through one is read through the other, and failed logins counted by one lock
the account on the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.seaweed import Seaweed, seaweed  # noqa: F401  (fixture)
from tests.serve_processes import base_env, init_deployment, running_servers
from tests.services import REDIS_URL, require

PASSWORD = "correct horse battery staple"
PDF = b"%PDF-1.7\n" + os.urandom(200_000) + b"\n%%EOF\n"
ANNEX = b"%PDF-1.4\n" + os.urandom(50_000) + b"\n%%EOF\n"

pytestmark = pytest.mark.slow


@pytest.fixture
def shared_env(tmp_path: Path, pg_url: str, seaweed: Seaweed) -> dict[str, str]:  # noqa: F811
    require("Redis", "127.0.0.1", 6379)
    bucket = "sealpact-" + os.urandom(4).hex()
    seaweed.client().create_bucket(Bucket=bucket)
    env = base_env(tmp_path / "data", pg_url)
    env.update(
        {
            "SEALPACT_STORAGE_URL": seaweed.storage_url(bucket),
            "SEALPACT_S3_ACCESS_KEY": seaweed.access_key,
            "SEALPACT_S3_SECRET_KEY": seaweed.secret_key,
            "SEALPACT_REDIS_URL": REDIS_URL.rsplit("/", 1)[0] + "/3",
            "SEALPACT_LOGIN_MAX_FAILURES": "4",
        }
    )
    init_deployment(env)
    return env


@pytest.fixture
def two_apps(shared_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    with running_servers(shared_env, tmp_path) as (a, b):
        yield a, b


def test_session_blob_and_lockout_shared_across_processes(two_apps: tuple[str, str]) -> None:
    base_a, base_b = two_apps
    with httpx.Client(base_url=base_a, timeout=30) as a, httpx.Client(base_url=base_b, timeout=30) as b:
        health = b.get("/healthz").json()
        assert health["status"] == "ok"
        assert {"database", "keys", "storage"} <= set(health["checks"])
        assert set(health["checks"].values()) == {"ok"}

        # Register and log in through A; the session works on B.
        assert (
            a.post(
                "/api/v1/auth/register", json={"email": "ann@example.com", "password": PASSWORD}
            ).status_code
            == 201
        )
        login = a.post("/api/v1/auth/login", json={"identifier": "ann@example.com", "password": PASSWORD})
        assert login.status_code == 200, login.text
        csrf = login.json()["csrf_token"]
        b.cookies.update(a.cookies)
        session_b = b.get("/api/v1/auth/session")
        assert session_b.status_code == 200, session_b.text
        assert session_b.json()["user"]["email"] == "ann@example.com"

        # A file written through A (into S3) is read through B, and the other way round.
        up = a.post(
            "/api/v1/files",
            params={"filename": "contract.pdf"},
            content=PDF,
            headers={"content-type": "application/pdf", "x-csrf-token": csrf},
        )
        assert up.status_code == 201, up.text
        assert b.get(f"/api/v1/files/{up.json()['id']}/content").content == PDF
        up_b = b.post(
            "/api/v1/files",
            params={"filename": "annex.pdf"},
            content=ANNEX,
            headers={"content-type": "application/pdf", "x-csrf-token": csrf},
        )
        assert up_b.status_code == 201, up_b.text
        assert a.get(f"/api/v1/files/{up_b.json()['id']}/content").content == ANNEX

        # Logging out through B ends the session on A too.
        assert b.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf}).status_code in (200, 204)
        assert a.get("/api/v1/auth/session").status_code == 401

    # Failed logins alternate between the processes; the shared counter locks the account on both.
    with httpx.Client(timeout=30) as client:
        statuses = []
        for attempt in range(6):
            base = (base_a, base_b)[attempt % 2]
            response = client.post(
                base + "/api/v1/auth/login",
                json={"identifier": "ann@example.com", "password": "wrong password!"},
            )
            statuses.append(response.status_code)
        assert statuses[:4] == [401, 401, 401, 401]
        assert statuses[4:] == [429, 429]
        locked = client.post(
            base_b + "/api/v1/auth/login", json={"identifier": "ann@example.com", "password": PASSWORD}
        )
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] in {"account_locked", "too_many_attempts"}
