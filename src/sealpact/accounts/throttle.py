"""Failed-login counting and temporary lockouts, shared by every app process.

One protocol, two stores: the database (default) and Redis (when ``settings.redis_url`` is set).
Keys are opaque strings chosen by the caller (hashed account identifiers, client IPs), so unknown
accounts are counted exactly like real ones. Both stores take time from the injected clock, so
lockout expiry is testable without sleeping.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealpact.accounts.models import LoginThrottle
from sealpact.clock import Clock
from sealpact.db import transaction


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window_seconds: int
    lockout_seconds: int


class ThrottleStore(Protocol):
    def locked_for(self, key: str) -> int:
        """Seconds until ``key`` is unlocked; 0 when it is not locked."""
        ...

    def register_failure(self, key: str, limit: Limit) -> int:
        """Count a failure; returns the lockout in seconds when this failure locked the key, else 0."""
        ...

    def reset(self, key: str) -> None:
        """Forget the failures of ``key`` (after a successful login)."""
        ...


def identifier_key(identifier: str) -> str:
    """The account key for an identifier that matches no account (counted like a real one)."""
    # Hashed so neither the table nor Redis holds email addresses or phone numbers in clear.
    return "acct:" + hashlib.sha256(identifier.strip().lower().encode()).hexdigest()


def account_user_key(user_id: str) -> str:
    """The account key of an existing user, whichever identifier (email or mobile) was typed."""
    return "user:" + user_id


def ip_key(ip: str | None) -> str:
    return "ip:" + (ip or "unknown")


def _remaining(until: datetime | None, now: datetime) -> int:
    if until is None or until <= now:
        return 0
    return max(1, math.ceil((until - now).total_seconds()))


class DatabaseThrottle:
    """Counters in the ``login_throttle`` table, in short transactions of their own.

    They must commit even though the login they belong to fails, so they never share the
    caller's transaction.
    """

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def locked_for(self, key: str) -> int:
        with transaction(self._sessions) as session:
            until = session.scalar(select(LoginThrottle.locked_until).where(LoginThrottle.key == key))
        return _remaining(until, self._clock.now())

    def register_failure(self, key: str, limit: Limit) -> int:
        now = self._clock.now()
        for _attempt in range(3):
            try:
                with transaction(self._sessions) as session:
                    return self._count(session, key, limit, now)
            except IntegrityError:
                continue  # another process inserted the row first: retry as an update
        return 0

    def _count(self, session: Session, key: str, limit: Limit, now: datetime) -> int:
        # Write first: the UPDATE takes PostgreSQL's row lock and SQLite's write lock, so concurrent
        # failures from several processes serialise here and every one of them counts.
        bumped = session.execute(
            update(LoginThrottle).where(LoginThrottle.key == key).values(failures=LoginThrottle.failures + 1)
        )
        if not getattr(bumped, "rowcount", 0):
            session.add(LoginThrottle(key=key, window_start=now, failures=1, locked_until=None))
            session.flush()  # a concurrent insert surfaces here as IntegrityError -> retried
        row = session.scalars(select(LoginThrottle).where(LoginThrottle.key == key)).one()
        if row.window_start <= now - timedelta(seconds=limit.window_seconds):
            row.window_start, row.failures = now, 1  # the old window expired: this failure starts a new one
        if row.failures >= limit.max_failures:
            row.locked_until = now + timedelta(seconds=limit.lockout_seconds)
            row.failures, row.window_start = 0, now
            return limit.lockout_seconds
        return 0

    def reset(self, key: str) -> None:
        with transaction(self._sessions) as session:
            session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(failures=0, window_start=self._clock.now())
            )


# Atomic on the Redis server: count within the window, lock when the limit is reached.
# KEYS[1] counter hash; ARGV: now (ms), window (ms), max failures, lockout (ms), key ttl (s).
# The lock deadline is stored as a value (from the injected clock), the TTL only cleans up.
_REGISTER_FAILURE = """
local now = tonumber(ARGV[1])
local start = tonumber(redis.call('HGET', KEYS[1], 'start') or '-1')
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if start < 0 or start <= now - tonumber(ARGV[2]) then
  start = now
  failures = 0
end
failures = failures + 1
local locked = 0
if failures >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'locked_until', now + tonumber(ARGV[4]))
  failures = 0
  start = now
  locked = 1
end
redis.call('HSET', KEYS[1], 'start', start, 'failures', failures)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return locked
"""


class RedisThrottle:
    """Counters in Redis hashes ``<prefix><key>``; the same semantics as :class:`DatabaseThrottle`."""

    def __init__(self, client: redis.Redis[bytes], clock: Clock, *, prefix: str = "sealpact:login:") -> None:
        self._redis = client
        self._clock = clock
        self._prefix = prefix
        self._script = client.register_script(_REGISTER_FAILURE)

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    def locked_for(self, key: str) -> int:
        raw = self._redis.hget(self._prefix + key, "locked_until")
        if raw is None:
            return 0
        remaining_ms = int(raw) - self._now_ms()
        return max(1, math.ceil(remaining_ms / 1000)) if remaining_ms > 0 else 0

    def register_failure(self, key: str, limit: Limit) -> int:
        ttl = max(limit.window_seconds, limit.lockout_seconds) + 60
        locked = self._script(
            keys=[self._prefix + key],
            args=[
                self._now_ms(),
                limit.window_seconds * 1000,
                limit.max_failures,
                limit.lockout_seconds * 1000,
                ttl,
            ],
        )
        return limit.lockout_seconds if int(locked) else 0

    def reset(self, key: str) -> None:
        # HDEL never creates a key, so no TTL-less key is left behind.
        self._redis.hdel(self._prefix + key, "failures", "start")
