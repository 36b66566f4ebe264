"""Two real `sealpact serve` processes against one PostgreSQL (+ Redis): replay protection holds across them.

A signed request accepted by one process is a replay on the other (the nonce lives in Redis, or in the
database when Redis is not configured); a re-signed request with an old timestamp is refused by both;
the per-key rate limit is one budget for both processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sealpact.client import SealpactClient
from tests.serve_processes import base_env, init_deployment, running_servers
from tests.services import REDIS_URL, require
from tests.test_apikeys_support import Key, signed_headers

PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.slow


@pytest.fixture(params=["redis", "database"])
def shared_env(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> dict[str, str]:
    env = base_env(tmp_path / "data", pg_url)
    if request.param == "redis":
        require("Redis", "127.0.0.1", 6379)
        env["SEALPACT_REDIS_URL"] = REDIS_URL.rsplit("/", 1)[0] + "/3"
    init_deployment(env)
    return env


@pytest.fixture
def two_apps(shared_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    with running_servers(shared_env, tmp_path) as (a, b):
        yield a, b


def _owner_key(base: str, *, rate: int = 600) -> tuple[str, Key, str]:
    """Register an owner through ``base``, create an organization and an API key: (org id, key, csrf)."""
    with httpx.Client(base_url=base, timeout=30) as owner:
        assert (
            owner.post(
                "/api/v1/auth/register", json={"email": "ops@example.cn", "password": PASSWORD}
            ).status_code
            == 201
        )
        login = owner.post("/api/v1/auth/login", json={"identifier": "ops@example.cn", "password": PASSWORD})
        assert login.status_code == 200, login.text
        owner.headers["x-csrf-token"] = login.json()["csrf_token"]
        org_id = owner.post("/api/v1/orgs", json={"name": "Acme"}).json()["id"]
        created = owner.post(
            f"/api/v1/orgs/{org_id}/api-keys",
            json={"name": "erp", "scopes": ["write"], "rate_limit_per_minute": rate},
        )
        assert created.status_code == 201, created.text
        data = created.json()
        return org_id, Key(data["id"], data["key_id"], data["secret"]), owner.headers["x-csrf-token"]


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_replay_refused_by_the_other_process_and_window_shared(two_apps: tuple[str, str]) -> None:
    base_a, base_b = two_apps
    org_id, key, _ = _owner_key(base_a)

    with httpx.Client(timeout=30) as http:
        # A GET accepted by A is a replay on B, and on A again.
        headers = signed_headers(key, "GET", "/api/v1/orgs", timestamp=int(time.time()))
        first = http.get(base_a + "/api/v1/orgs", headers=headers)
        assert first.status_code == 200, first.text
        assert [o["id"] for o in first.json()] == [org_id]
        for base in (base_b, base_a):
            replay = http.get(base + "/api/v1/orgs", headers=headers)
            assert replay.status_code == 401 and _code(replay) == "nonce_reused"

        # A contract created through B; the identical request replayed to A creates nothing.
        body = json.dumps({"title": "Supply", "organization_id": org_id}).encode()
        post_headers = {
            **signed_headers(key, "POST", "/api/v1/contracts", body=body, timestamp=int(time.time())),
            "content-type": "application/json",
        }
        created = http.post(base_b + "/api/v1/contracts", content=body, headers=post_headers)
        assert created.status_code == 201, created.text
        replayed = http.post(base_a + "/api/v1/contracts", content=body, headers=post_headers)
        assert replayed.status_code == 401 and _code(replayed) == "nonce_reused"

        # Re-signed (correctly!) with a timestamp outside the window: refused by both.
        for base in (base_a, base_b):
            stale = signed_headers(key, "GET", "/api/v1/orgs", timestamp=int(time.time()) - 301)
            response = http.get(base + "/api/v1/orgs", headers=stale)
            assert response.status_code == 401 and _code(response) == "timestamp_out_of_window"

    # The client signs afresh on each call, so alternating processes works; exactly one contract exists.
    for base in (base_a, base_b):
        with SealpactClient(base, key.key_id, key.secret) as client:
            page = client.list_contracts(organization_id=org_id)
            assert [c["id"] for c in page["items"]] == [created.json()["id"]]


def test_rate_limit_is_one_budget_across_processes(two_apps: tuple[str, str]) -> None:
    base_a, base_b = two_apps
    _org_id, key, _ = _owner_key(base_b, rate=3)
    statuses: list[int] = []
    first_window = int(time.time()) // 60
    with httpx.Client(timeout=30) as http:
        for attempt in range(6):
            now = int(time.time())
            base = (base_a, base_b)[attempt % 2]
            response = http.get(
                base + "/api/v1/orgs", headers=signed_headers(key, "GET", "/api/v1/orgs", timestamp=now)
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert _code(response) == "rate_limited"
                assert 1 <= int(response.headers["retry-after"]) <= 60
    assert set(statuses) <= {200, 429}
    if int(time.time()) // 60 == first_window:  # all in one fixed window: exactly one budget for both
        assert statuses == [200, 200, 200, 429, 429, 429]
    else:  # a minute boundary fell inside the run: one more budget at most
        assert 3 <= statuses.count(200) <= 6
