"""Where nonces and per-key request counts live, shared by every app process.

One protocol each, two stores each, chosen like the login throttle: Redis when ``settings.redis_url``
is set, else the database. Time comes from the injected clock, so windows are testable without sleeping.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Protocol

import redis
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealpact.apiauth.models import ApiNonce, ApiRateWindow
from sealpact.clock import Clock
from sealpact.db import transaction

PURGE_EVERY = 256  # remembered nonces (per process) between sweeps of expired rows


class NonceStore(Protocol):
    def remember(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        """Record ``nonce`` for ``key_id`` until ``expires_at``; False when it is already remembered."""
        ...

    def purge_expired(self) -> int:
        """Forget nonces past their expiry (a no-op where the store expires them itself)."""
        ...


class RateLimitStore(Protocol):
    def hit(self, key_id: str, limit: int, window_seconds: int) -> int:
        """Count one request; 0 when it is within ``limit`` for the current fixed window, otherwise the
        seconds until the window ends (the Retry-After)."""
        ...

    def purge_expired(self, window_seconds: int) -> int:
        """Forget counters of windows that have ended (a no-op where the store expires them itself)."""
        ...


def _window(now: datetime, window_seconds: int) -> tuple[int, int]:
    """(start of the current fixed window in Unix seconds, seconds until it ends)."""
    ts = now.timestamp()
    start = int(ts // window_seconds) * window_seconds
    return start, max(1, math.ceil(start + window_seconds - ts))


class DatabaseNonceStore:
    """Rows in ``api_nonces``; the primary key (key_id, nonce) turns a concurrent replay into an
    IntegrityError in whichever transaction commits second, on SQLite and PostgreSQL alike."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._since_purge = 0

    def remember(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        now = self._clock.now()
        try:
            with transaction(self._sessions) as session:
                # An expired, not yet purged row must not make a fresh request look like a replay.
                session.execute(
                    delete(ApiNonce).where(
                        ApiNonce.key_id == key_id, ApiNonce.nonce == nonce, ApiNonce.expires_at <= now
                    )
                )
                session.add(ApiNonce(key_id=key_id, nonce=nonce, expires_at=expires_at))
                session.flush()
        except IntegrityError:
            return False
        self._since_purge += 1
        if self._since_purge >= PURGE_EVERY:
            self._since_purge = 0
            self.purge_expired()
        return True

    def purge_expired(self) -> int:
        with transaction(self._sessions) as session:
            result = session.execute(delete(ApiNonce).where(ApiNonce.expires_at <= self._clock.now()))
            return int(getattr(result, "rowcount", 0) or 0)


class RedisNonceStore:
    """``SET <prefix><key id>:<nonce> 1 NX EX <ttl>``: atomic on the server, expired by Redis."""

    def __init__(self, client: redis.Redis[bytes], clock: Clock, *, prefix: str = "sealpact:nonce:") -> None:
        self._redis = client
        self._clock = clock
        self._prefix = prefix

    def remember(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        ttl = max(1, math.ceil((expires_at - self._clock.now()).total_seconds()))
        return bool(self._redis.set(f"{self._prefix}{key_id}:{nonce}", b"1", nx=True, ex=ttl))

    def purge_expired(self) -> int:
        return 0


class DatabaseRateLimit:
    """Fixed-window counters in ``api_rate_windows``: one row per key and window, bumped atomically."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    def hit(self, key_id: str, limit: int, window_seconds: int) -> int:
        start, remaining = _window(self._clock.now(), window_seconds)
        for _attempt in range(3):
            try:
                with transaction(self._sessions) as session:
                    count = self._bump(session, key_id, start)
                break
            except IntegrityError:
                continue  # another process inserted this window's row first: retry as an update
        else:
            return remaining
        return 0 if count <= limit else remaining

    def _bump(self, session: Session, key_id: str, start: int) -> int:
        # UPDATE first: it takes the row lock, so concurrent requests from several processes serialise.
        bumped = session.execute(
            update(ApiRateWindow)
            .where(ApiRateWindow.key_id == key_id, ApiRateWindow.window_start == start)
            .values(count=ApiRateWindow.count + 1)
        )
        if not getattr(bumped, "rowcount", 0):
            session.execute(
                delete(ApiRateWindow).where(
                    ApiRateWindow.key_id == key_id, ApiRateWindow.window_start < start
                )
            )
            session.add(ApiRateWindow(key_id=key_id, window_start=start, count=1))
            session.flush()
            return 1
        return int(
            session.scalar(
                select(ApiRateWindow.count).where(
                    ApiRateWindow.key_id == key_id, ApiRateWindow.window_start == start
                )
            )
            or 0
        )

    def purge_expired(self, window_seconds: int) -> int:
        start, _ = _window(self._clock.now(), window_seconds)
        with transaction(self._sessions) as session:
            result = session.execute(delete(ApiRateWindow).where(ApiRateWindow.window_start < start))
            return int(getattr(result, "rowcount", 0) or 0)


class RedisRateLimit:
    """``INCR <prefix><key id>:<window start>`` with an expiry a little past the window."""

    def __init__(
        self, client: redis.Redis[bytes], clock: Clock, *, prefix: str = "sealpact:apirate:"
    ) -> None:
        self._redis = client
        self._clock = clock
        self._prefix = prefix

    def hit(self, key_id: str, limit: int, window_seconds: int) -> int:
        start, remaining = _window(self._clock.now(), window_seconds)
        name = f"{self._prefix}{key_id}:{start}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(name)
        pipe.expire(name, window_seconds + 60)
        count, _ = pipe.execute()
        return 0 if int(count) <= limit else remaining

    def purge_expired(self, window_seconds: int) -> int:
        return 0
