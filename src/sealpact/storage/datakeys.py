"""Per-domain data keys (field encryption and the like), stored wrapped by the key provider's KEK.

Blob data keys are not kept here: each blob carries its own wrapped key in its metadata row. These keys
are few and long-lived, so they are unwrapped once and cached in memory for the life of the process.
"""

from __future__ import annotations

import secrets
import threading

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealpact.clock import Clock
from sealpact.db import new_id, on_commit, transaction
from sealpact.errors import Conflict
from sealpact.storage.errors import StorageError
from sealpact.storage.keys import KeyProvider, WrappedKey
from sealpact.storage.models import DataKey

KEY_BYTES = 32


def data_key_context(name: str, version: int) -> bytes:
    """What a data key's wrapping is bound to, so a wrapped key cannot be moved to another row."""
    return f"sealpact/data-key/{name}/{version}".encode()


class DataKeyStore:
    """Creates, caches and re-wraps named data keys (versioned so a data key can be replaced later)."""

    def __init__(self, sessions: sessionmaker[Session], keys: KeyProvider, clock: Clock) -> None:
        self._sessions = sessions
        self._keys = keys
        self._clock = clock
        self._lock = threading.Lock()
        self._by_version: dict[tuple[str, int], bytes] = {}
        self._current: dict[str, int] = {}

    def current(self, name: str, *, session: Session | None = None) -> tuple[int, bytes]:
        """The newest version of key ``name`` and its bytes, created on first use.

        With ``session`` the key is read (or created) inside the caller's transaction; pass it when the
        caller already holds a write transaction (on SQLite a second writer would wait for it). A key
        read or created that way is cached only once that transaction commits: a rolled-back key must
        never encrypt data.
        """
        with self._lock:
            version = self._current.get(name)
            if version is not None:
                return version, self._by_version[(name, version)]
        if session is not None:
            try:
                made_version, key = self._current_in(session, name)
            except IntegrityError as exc:
                raise Conflict("A data key was created concurrently; retry the operation.") from exc
            on_commit(session, lambda: self._cache(name, made_version, key, current=True))
            return made_version, key
        try:
            with transaction(self._sessions) as own:
                version, key = self._current_in(own, name)
        except IntegrityError:
            # Another process created it between our read and our insert: use theirs.
            with transaction(self._sessions) as own:
                version, key = self._current_in(own, name)
        self._cache(name, version, key, current=True)
        return version, key

    def get(self, name: str, version: int, *, session: Session | None = None) -> bytes:
        """Key ``name`` at ``version``; raises :class:`StorageError` when there is no such key."""
        with self._lock:
            cached = self._by_version.get((name, version))
        if cached is not None:
            return cached
        if session is not None:
            key = self._get_in(session, name, version)
            on_commit(session, lambda: self._cache(name, version, key, current=False))
            return key
        with transaction(self._sessions) as own:
            key = self._get_in(own, name, version)
        self._cache(name, version, key, current=False)
        return key

    def rewrap(self, *, batch_size: int = 500) -> int:
        """Re-wrap every data key not under the active KEK; one transaction per batch, so resumable."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        done = 0
        while True:
            with transaction(self._sessions) as session:
                active = self._keys.active_kek_id()
                rows = session.scalars(
                    select(DataKey).where(DataKey.kek_id != active).order_by(DataKey.id).limit(batch_size)
                ).all()
                for row in rows:
                    context = data_key_context(row.name, row.version)
                    key = self._keys.unwrap(WrappedKey.decode(row.wrapped_key), context=context)
                    wrapped = self._keys.wrap(key, context=context)
                    row.wrapped_key, row.kek_id = wrapped.encode(), wrapped.kek_id
            done += len(rows)
            if len(rows) < batch_size:
                return done

    def count_by_kek(self) -> dict[str, int]:
        with transaction(self._sessions) as session:
            rows = session.execute(select(DataKey.kek_id, func.count()).group_by(DataKey.kek_id)).all()
        return {kek_id: count for kek_id, count in rows}

    # -- internals ------------------------------------------------------------------------------

    def _current_in(self, session: Session, name: str) -> tuple[int, bytes]:
        row = session.scalars(
            select(DataKey).where(DataKey.name == name).order_by(DataKey.version.desc()).limit(1)
        ).first()
        if row is not None:
            return row.version, self._unwrap(row)
        key = secrets.token_bytes(KEY_BYTES)
        wrapped = self._keys.wrap(key, context=data_key_context(name, 1))
        session.add(
            DataKey(
                id=new_id(),
                name=name,
                version=1,
                wrapped_key=wrapped.encode(),
                kek_id=wrapped.kek_id,
                created_at=self._clock.now(),
            )
        )
        session.flush()
        return 1, key

    def _get_in(self, session: Session, name: str, version: int) -> bytes:
        row = session.scalars(select(DataKey).where(DataKey.name == name, DataKey.version == version)).first()
        if row is None:
            raise StorageError(
                "A data key needed to decrypt this value does not exist.", code="data_key_missing"
            )
        return self._unwrap(row)

    def _unwrap(self, row: DataKey) -> bytes:
        return self._keys.unwrap(
            WrappedKey.decode(row.wrapped_key), context=data_key_context(row.name, row.version)
        )

    def _cache(self, name: str, version: int, key: bytes, *, current: bool) -> None:
        with self._lock:
            self._by_version[(name, version)] = key
            if current and self._current.get(name, 0) < version:
                self._current[name] = version
