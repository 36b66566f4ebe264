"""Nonce and rate-limit stores: the database one (SQLite, PostgreSQL) and the Redis one, same behaviour."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import redis
from sqlalchemy import func, select

from sealpact.apiauth.models import ApiNonce
from sealpact.apiauth.stores import (
    DatabaseNonceStore,
    DatabaseRateLimit,
    NonceStore,
    RateLimitStore,
    RedisNonceStore,
    RedisRateLimit,
)
from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.services import REDIS_URL, require
from tests.test_accounts_support import START


@pytest.fixture
def redis_client() -> Iterator[redis.Redis[bytes]]:
    require("Redis", "127.0.0.1", 6379)
    client: redis.Redis[bytes] = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        client.close()


def _prefix() -> str:
    return f"sealpact-test:{secrets.token_hex(4)}:"


def _cleanup(client: redis.Redis[bytes], prefix: str) -> None:
    for name in client.scan_iter(match=prefix + "*"):
        client.delete(name)


def _check_nonces(store: NonceStore, clock: FrozenClock) -> None:
    until = clock.now() + timedelta(seconds=301)
    assert store.remember("spak_a1234567", "nonce-0000000001", until)
    assert not store.remember("spak_a1234567", "nonce-0000000001", until)
    assert store.remember("spak_b1234567", "nonce-0000000001", until)  # per key
    clock.advance(seconds=302)
    # Expired: the same nonce is a new request again (its timestamp is checked separately).
    assert store.remember("spak_a1234567", "nonce-0000000001", clock.now() + timedelta(seconds=301))


def _check_rate(store: RateLimitStore, clock: FrozenClock) -> None:
    clock.advance(seconds=60 - clock.now().second)
    assert [store.hit("spak_r1234567", 3, 60) for _ in range(3)] == [0, 0, 0]
    clock.advance(seconds=15)
    assert store.hit("spak_r1234567", 3, 60) == 45
    assert store.hit("spak_other1234", 3, 60) == 0  # per key
    clock.advance(seconds=45)
    assert store.hit("spak_r1234567", 3, 60) == 0  # a new window


def test_database_nonces_and_rate(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    store = DatabaseNonceStore(runtime.sessions, clock)
    _check_nonces(store, clock)
    clock.advance(seconds=100)  # key b's nonce has expired, key a's second one has not
    assert store.purge_expired() == 1
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApiNonce)) == 1
    _check_rate(DatabaseRateLimit(runtime.sessions, clock), clock)


def test_database_stores_under_concurrency(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    nonces = DatabaseNonceStore(runtime.sessions, clock)
    until = clock.now() + timedelta(seconds=301)
    with ThreadPoolExecutor(max_workers=6) as pool:
        accepted = list(
            pool.map(lambda _: nonces.remember("spak_c1234567", "same-nonce-000001", until), range(12))
        )
    assert accepted.count(True) == 1

    rates = DatabaseRateLimit(runtime.sessions, clock)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: rates.hit("spak_c1234567", 10, 60), range(24)))
    assert sum(1 for r in results if r == 0) == 10  # every request counted exactly once


def test_redis_nonces_and_rate(redis_client: redis.Redis[bytes]) -> None:
    prefix = _prefix()
    try:
        clock = FrozenClock(START)
        store = RedisNonceStore(redis_client, clock, prefix=prefix + "n:")
        until = clock.now() + timedelta(seconds=301)
        assert store.remember("spak_a1234567", "nonce-0000000001", until)
        assert not store.remember("spak_a1234567", "nonce-0000000001", until)
        ttl = redis_client.ttl(f"{prefix}n:spak_a1234567:nonce-0000000001")
        assert 290 <= ttl <= 301  # Redis forgets it once the timestamp has left the window
        assert store.purge_expired() == 0
        _check_rate(RedisRateLimit(redis_client, clock, prefix=prefix + "r:"), clock)
        with ThreadPoolExecutor(max_workers=6) as pool:
            accepted = list(
                pool.map(lambda _: store.remember("spak_c1234567", "same-nonce-000001", until), range(12))
            )
        assert accepted.count(True) == 1
    finally:
        _cleanup(redis_client, prefix)
