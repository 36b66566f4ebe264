"""Failed-login throttling and lockouts: both stores for real (database, Redis), and through the API."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select

from sealpact.accounts.service import build_throttle
from sealpact.accounts.throttle import DatabaseThrottle, Limit, RedisThrottle, ThrottleStore
from sealpact.audit.models import AuditEvent
from sealpact.clock import FrozenClock
from sealpact.config import Settings
from sealpact.runtime import Runtime
from sealpact.web.app import create_app
from tests.conftest import make_settings
from tests.services import REDIS_URL, require
from tests.test_accounts_support import PASSWORD, START, register, setup_accounts

ACCOUNT_LIMIT = 3
IP_LIMIT = 8
WINDOW = 600
LOCKOUT = 300


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return make_settings(
        data_dir,
        database_url=database_url,
        login_max_failures=ACCOUNT_LIMIT,
        login_ip_max_failures=IP_LIMIT,
        login_window_seconds=WINDOW,
        login_lockout_seconds=LOCKOUT,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis[bytes]]:
    parsed = urlparse(REDIS_URL)
    require("Redis", parsed.hostname or "127.0.0.1", parsed.port or 6379)
    client: redis.Redis[bytes] = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis[bytes]) -> Iterator[str]:
    prefix = f"sealpact-test:{secrets.token_hex(6)}:"
    yield prefix
    for key in redis_client.scan_iter(match=prefix + "*"):
        redis_client.delete(key)


LIMIT = Limit(max_failures=3, window_seconds=60, lockout_seconds=120)


def _exercise(store: ThrottleStore, clock: FrozenClock) -> None:
    key = "acct:test"
    assert store.locked_for(key) == 0
    assert store.register_failure(key, LIMIT) == 0
    assert store.register_failure(key, LIMIT) == 0
    assert store.locked_for(key) == 0
    assert store.register_failure(key, LIMIT) == 120  # the third failure locks
    assert store.locked_for(key) == 120
    clock.advance(seconds=119.5)
    assert store.locked_for(key) == 1
    clock.advance(seconds=0.5)
    assert store.locked_for(key) == 0  # expiry follows the injected clock, not wall time

    # Failures spread wider than the window never add up to a lockout.
    other = "ip:192.0.2.1"
    for _ in range(6):
        assert store.register_failure(other, LIMIT) == 0
        clock.advance(seconds=31)
    assert store.locked_for(other) == 0

    # A success resets the count.
    third = "user:abc"
    store.register_failure(third, LIMIT)
    store.register_failure(third, LIMIT)
    store.reset(third)
    assert store.register_failure(third, LIMIT) == 0
    assert store.locked_for(third) == 0
    store.reset("never-seen")  # harmless


def _concurrent_failures(store: ThrottleStore, key: str, count: int) -> None:
    limit = Limit(max_failures=count, window_seconds=600, lockout_seconds=60)
    barrier = threading.Barrier(count)
    locked: list[int] = []

    def fail() -> None:
        barrier.wait()
        locked.append(store.register_failure(key, limit))

    threads = [threading.Thread(target=fail) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Every failure counted exactly once: exactly the last one reached the limit and locked.
    assert sorted(locked) == [0] * (count - 1) + [60]
    assert store.locked_for(key) == 60


def test_database_store(runtime: Runtime, clock: FrozenClock) -> None:
    _exercise(DatabaseThrottle(runtime.sessions, clock), clock)


def test_database_store_counts_concurrent_failures(runtime: Runtime, clock: FrozenClock) -> None:
    _concurrent_failures(DatabaseThrottle(runtime.sessions, clock), "acct:race", 6)


@pytest.mark.redis
def test_redis_store(redis_client: redis.Redis[bytes], redis_prefix: str, clock: FrozenClock) -> None:
    _exercise(RedisThrottle(redis_client, clock, prefix=redis_prefix), clock)
    # Keys carry a TTL so abandoned counters clean themselves up, and hold no identifiers in clear.
    keys = list(redis_client.scan_iter(match=redis_prefix + "*"))
    assert keys and all(redis_client.ttl(key) > 0 for key in keys)


@pytest.mark.redis
def test_redis_store_counts_concurrent_failures(
    redis_client: redis.Redis[bytes], redis_prefix: str, clock: FrozenClock
) -> None:
    _concurrent_failures(RedisThrottle(redis_client, clock, prefix=redis_prefix), "acct:race", 12)


@pytest.mark.redis
def test_redis_chosen_when_configured(tmp_path: Path, redis_client: redis.Redis[bytes]) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert isinstance(build_throttle(Runtime(make_settings(tmp_path, database_url=db))), DatabaseThrottle)
    configured = Runtime(make_settings(tmp_path, database_url=db, redis_url=REDIS_URL))
    assert isinstance(build_throttle(configured), RedisThrottle)


def _login(client: TestClient, identifier: str, password: str) -> tuple[int, str, dict[str, str]]:
    response = client.post("/api/v1/auth/login", json={"identifier": identifier, "password": password})
    code = response.json().get("error", {}).get("code", "ok")
    return response.status_code, code, dict(response.headers)


def _lockout_scenario(runtime: Runtime, clock: FrozenClock) -> None:
    client = TestClient(create_app(runtime), client=("198.51.100.7", 40000))
    register(client, "victim@example.com")

    for _ in range(ACCOUNT_LIMIT):
        assert _login(client, "victim@example.com", "wrong password!")[:2] == (401, "invalid_credentials")
    status, code, headers = _login(client, "victim@example.com", PASSWORD)  # even the right password
    assert (status, code) == (429, "account_locked")
    assert 0 < int(headers["retry-after"]) <= LOCKOUT
    # Typing the mobile-less account's email in another case is the same account.
    assert _login(client, "VICTIM@example.com", PASSWORD)[:2] == (429, "account_locked")

    # An account that does not exist locks the same way (no existence oracle).
    for _ in range(ACCOUNT_LIMIT):
        assert _login(client, "ghost@example.com", "wrong password!")[:2] == (401, "invalid_credentials")
    status, code, headers = _login(client, "ghost@example.com", "wrong password!")
    assert (status, code) == (429, "account_locked")
    assert 0 < int(headers["retry-after"]) <= LOCKOUT

    # After the lockout the right password works again and clears the counter.
    clock.advance(seconds=LOCKOUT + 1)
    assert _login(client, "victim@example.com", PASSWORD)[:2] == (200, "ok")


def test_lockout_per_account(runtime: Runtime, clock: FrozenClock) -> None:
    setup_accounts(runtime, clock=clock)
    _lockout_scenario(runtime, clock)
    with runtime.sessions() as db:
        actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions.count("auth.login_failed") == 2 * ACCOUNT_LIMIT
    assert actions.count("auth.lockout") == 2
    assert actions[-1] == "auth.login"


@pytest.mark.redis
def test_lockout_per_account_with_redis(
    runtime: Runtime, clock: FrozenClock, redis_client: redis.Redis[bytes], redis_prefix: str
) -> None:
    setup_accounts(runtime, clock=clock, throttle=RedisThrottle(redis_client, clock, prefix=redis_prefix))
    _lockout_scenario(runtime, clock)
    with runtime.sessions() as db:
        assert db.scalars(select(AuditEvent).where(AuditEvent.action == "auth.lockout")).all()


def test_lockout_per_ip(runtime: Runtime, clock: FrozenClock) -> None:
    setup_accounts(runtime, clock=clock)
    attacker = TestClient(create_app(runtime), client=("203.0.113.9", 50000))
    bystander = TestClient(create_app(runtime), client=("192.0.2.44", 50000))
    register(bystander, "real@example.com")

    # Password spraying: one attempt per account, many accounts, one address.
    for n in range(IP_LIMIT):
        assert _login(attacker, f"user{n}@example.com", "Spring2026!!")[:2] == (401, "invalid_credentials")
    status, code, headers = _login(attacker, "real@example.com", PASSWORD)
    assert (status, code) == (429, "too_many_attempts")
    assert 0 < int(headers["retry-after"]) <= LOCKOUT
    # Other addresses are unaffected, and the accounts themselves are not locked.
    assert _login(bystander, "real@example.com", PASSWORD)[:2] == (200, "ok")

    clock.advance(seconds=LOCKOUT + 1)
    assert _login(attacker, "real@example.com", PASSWORD)[:2] == (200, "ok")


def test_totp_guessing_counts_towards_lockout(runtime: Runtime, clock: FrozenClock) -> None:
    from tests.test_accounts_support import login, totp_code

    setup_accounts(runtime, clock=clock)
    client = TestClient(create_app(runtime))
    register(client, "twofa@example.com")
    client.headers["X-CSRF-Token"] = login(client, "twofa@example.com")
    secret = client.post("/api/v1/auth/totp/enroll").json()["secret"]
    client.post("/api/v1/auth/totp/confirm", json={"code": totp_code(secret, clock.now())})

    fresh = TestClient(create_app(runtime), client=("198.51.100.20", 1))
    pending = fresh.post("/api/v1/auth/login", json={"identifier": "twofa@example.com", "password": PASSWORD})
    token = pending.json()["pending_token"]
    for _ in range(ACCOUNT_LIMIT):
        bad = fresh.post("/api/v1/auth/login/totp", json={"pending_token": token, "code": "000000"})
        assert bad.status_code == 401
    clock.advance(seconds=30)
    good = fresh.post(
        "/api/v1/auth/login/totp", json={"pending_token": token, "code": totp_code(secret, clock.now())}
    )
    assert good.status_code == 429 and good.json()["error"]["code"] == "account_locked"
