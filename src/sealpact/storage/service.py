"""Encrypted blob storage: the service every domain stores files through.

``put`` draws a fresh 256-bit data key, wraps it under the key provider's active KEK (bound to the blob
id), streams the source through the chunked envelope (:mod:`sealpact.storage.envelope`) into the blob
store while computing the plaintext SHA-256, and only then records the metadata row (with the wrapped
key) in the database. Reads stream and check every chunk, then the size and SHA-256 at the end.

Large files are never held whole: at most two plaintext chunks and one ciphertext record are in memory
(plus one S3 part). Hashing runs in a helper thread (``hashlib`` releases the GIL on large buffers), so
it overlaps encryption and I/O.
"""

from __future__ import annotations

import io
import logging
import queue
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from sealpact.clock import Clock
from sealpact.db import on_commit, transaction
from sealpact.errors import InvalidInput, SealpactError
from sealpact.storage.envelope import (
    FORMAT_VERSION,
    HEADER_SIZE,
    TAG_SIZE,
    Opener,
    Sealer,
    ciphertext_size,
    iter_records,
    new_data_key,
    read_exact,
    rechunk,
)
from sealpact.storage.errors import BlobIntegrityError, BlobNotFound, BlobTooLarge
from sealpact.storage.keys import KeyProvider, WrappedKey
from sealpact.storage.models import Blob
from sealpact.storage.pipeline import THREAD_MIN, Hasher, Prefetch, read_chunks_into_ring
from sealpact.storage.store import BlobStore, Chunk, ObjectReader, object_key

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger("sealpact.storage")

_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(\s*;.*)?")
DEFAULT_READ_BYTES_LIMIT = 64 << 20


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


Source = bytes | bytearray | memoryview | Readable | BinaryIO | Iterable[bytes]


@dataclass(frozen=True)
class BlobRef:
    """What a caller keeps to refer to a stored blob."""

    id: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class VerifyReport:
    checked: int
    failures: list[tuple[str, str]]  # (blob id, error code)


@dataclass(frozen=True)
class GarbageReport:
    scanned: int
    orphans: list[str]
    deleted: int


def _ref(row: Blob) -> BlobRef:
    return BlobRef(id=row.id, size=row.size, sha256=row.sha256, content_type=row.content_type)


def _context(blob_id: str) -> bytes:
    """The KEK wrap of a blob's data key is bound to the blob id (a key cannot be moved to another)."""
    return blob_id.encode()


def _parse_id(blob_id: str) -> uuid.UUID:
    try:
        parsed = uuid.UUID(blob_id)
    except (ValueError, AttributeError, TypeError):
        raise BlobNotFound("No such blob.") from None
    if str(parsed) != blob_id:
        raise BlobNotFound("No such blob.")
    return parsed


class _Sealing:
    """The put pipeline: plaintext source -> header + records, counting and hashing on the way."""

    def __init__(self, sealer: Sealer, *, max_size: int | None) -> None:
        self.sealer = sealer
        self.chunk_size = sealer.header.chunk_size
        self.max_size = max_size
        self.size = 0
        self.hasher = Hasher(threaded=self.chunk_size >= THREAD_MIN)
        self._out = bytearray(self.chunk_size + TAG_SIZE)

    def records(self, source: Source) -> Iterator[Chunk]:
        try:
            yield self.sealer.header_bytes
            if isinstance(source, bytes | bytearray | memoryview):
                yield from self._from_memory(memoryview(source))
            elif hasattr(source, "readinto"):
                yield from self._from_readinto(source.readinto)
            elif hasattr(source, "read"):
                read = source.read
                yield from self._from_chunks(iter(lambda: read(self.chunk_size), b""))
            else:
                yield from self._from_chunks(source)
            self.hasher.wait()
        finally:
            self.hasher.close()

    def _count(self, chunk: Chunk) -> None:
        self.size += len(chunk)
        if self.max_size is not None and self.size > self.max_size:
            raise BlobTooLarge(f"The file exceeds the limit of {self.max_size} bytes.")
        self.hasher.update(chunk)  # hashed in the helper thread while this thread reads and encrypts

    def _seal(self, chunk: Chunk, last: bool, *, counted: bool = False) -> memoryview:
        if not counted:
            self._count(chunk)
        return self.sealer.seal_into(chunk, self._out, last=last)

    def _from_memory(self, data: memoryview) -> Iterator[Chunk]:
        data = data.cast("B")
        size, step = len(data), self.chunk_size
        if size == 0:
            yield self._seal(data, True)
            return
        for offset in range(0, size, step):
            yield self._seal(data[offset : offset + step], offset + step >= size)

    def _from_readinto(self, readinto: Any) -> Iterator[Chunk]:
        # A helper thread reads ahead into a ring of buffers (file reads release the GIL), another
        # hashes, this one encrypts and hands records to the store; the consumer returns each buffer.
        size = self.chunk_size
        free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(4):
            free.put(bytearray(size))
        prefetch = Prefetch(read_chunks_into_ring(readinto, size, free), depth=2)
        try:
            chunks = iter(prefetch)
            current: tuple[bytearray, int] | None = next(chunks)
            while current is not None:
                buffer, filled = current
                view = memoryview(buffer)[:filled]
                self._count(view)  # hashing starts in its thread
                following = next(chunks, None) if filled == size else None
                last = following is None or following[1] == 0
                yield self._seal(view, last, counted=True)
                self.hasher.wait()  # done reading this buffer: recycle it
                view.release()
                free.put(buffer)
                current = None if last else following
        finally:
            prefetch.close()

    def _from_chunks(self, pieces: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk, last in rechunk(pieces, self.chunk_size):
            yield self._seal(chunk, last)


class BlobReader(io.RawIOBase):
    """A readable, streaming view of one blob's plaintext.

    Iterate it for chunks, use it as a binary file (``read``/``readinto``), or :meth:`copy_to` a sink.
    Every chunk is authenticated before it is returned; the end of the stream also checks the size and
    SHA-256 recorded at write time. A consumer must not treat the content as complete until the read
    reaches the end without :class:`BlobIntegrityError`.
    """

    def __init__(self, ref: BlobRef, key: bytes, blob_uuid: uuid.UUID, reader: ObjectReader) -> None:
        super().__init__()
        self.ref = ref
        self._key = key
        self._uuid = blob_uuid
        self._reader = reader
        self._chunks: Iterator[bytes] | None = None
        self._pending = memoryview(b"")
        self._started = False

    @property
    def size(self) -> int:
        return self.ref.size

    @property
    def sha256(self) -> str:
        return self.ref.sha256

    def readable(self) -> bool:
        return True

    def _opener(self) -> Opener:
        if self._started:
            raise ValueError("a BlobReader can be read once")
        self._started = True
        return Opener(self._key, self._uuid, read_exact(self._reader.read, HEADER_SIZE))

    def _verify(self, size: int, digest: str) -> None:
        if size != self.ref.size or digest != self.ref.sha256:
            raise BlobIntegrityError("The blob's content does not match its recorded size and SHA-256.")

    def chunks(self) -> Iterator[bytes]:
        """The plaintext, chunk by chunk (each a fresh ``bytes``)."""
        opener = self._opener()
        hasher = Hasher(threaded=opener.header.chunk_size >= THREAD_MIN)
        records = self._prefetch_records(opener)
        size = 0
        try:
            for record, last in records:
                plain = opener.open(record, last=last)
                hasher.update(plain)
                size += len(plain)
                yield plain
            self._verify(size, hasher.hexdigest())
        finally:
            records.close()
            hasher.close()

    def _prefetch_records(self, opener: Opener) -> Prefetch[tuple[bytes, bool]]:
        """Stored records read ahead in a helper thread (store reads release the GIL)."""
        read, record_size = self._reader.read, opener.record_size
        return Prefetch(lambda _stop: iter_records(read, record_size), depth=2)

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def copy_to(self, sink: BinaryIO | Any) -> int:
        """Write the whole plaintext to ``sink`` (anything with ``write``) reusing two buffers.

        Returns the byte count. On an integrity error the sink has received a prefix: discard it.
        """
        opener = self._opener()
        buffers = (bytearray(opener.header.chunk_size), bytearray(opener.header.chunk_size))
        hasher = Hasher(threaded=opener.header.chunk_size >= THREAD_MIN)
        records = self._prefetch_records(opener)
        size, current = 0, 0
        try:
            for record, last in records:
                # This buffer held the chunk two records back, whose hash update() already waited for.
                plain = opener.open_into(record, buffers[current], last=last)
                hasher.update(plain)  # hashed in the helper thread while the sink writes it
                sink.write(plain)
                size += len(plain)
                current = 1 - current
            self._verify(size, hasher.hexdigest())
        finally:
            records.close()
            hasher.close()
        return size

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        if not self._pending:
            if self._chunks is None:
                self._chunks = self.chunks()
            for chunk in self._chunks:
                if chunk:
                    self._pending = memoryview(chunk)
                    break
            else:
                return 0
        n = min(len(target), len(self._pending))
        target[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            if self._chunks is not None and hasattr(self._chunks, "close"):
                self._chunks.close()  # stops its read-ahead thread before the reader goes
            self._reader.close()
        super().close()


_PENDING_OBJECTS = "sealpact.storage.pending_objects"


@event.listens_for(Session, "after_commit")
def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING_OBJECTS, None)


@event.listens_for(Session, "after_soft_rollback")
def _delete_pending(session: Session, previous: SessionTransaction) -> None:
    # Objects written for a caller's transaction that rolled back have no metadata row: remove them.
    if previous.parent is not None:
        return
    for store, key in session.info.pop(_PENDING_OBJECTS, []):
        try:
            store.delete(key)
        except Exception:  # cleanup is best effort; `sealpact storage gc` finds what is left
            log.warning("could not delete an object of a rolled-back transaction", exc_info=True)


class BlobService:
    """Stores, reads, deletes and re-wraps encrypted blobs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: BlobStore,
        keys: KeyProvider,
        clock: Clock,
        *,
        chunk_size: int = 1 << 20,
    ) -> None:
        self._sessions = sessions
        self.store = store
        self._keys = keys
        self._clock = clock
        self.chunk_size = chunk_size

    # -- writing --------------------------------------------------------------------------------

    def put(self, source: Source, *, content_type: str, max_size: int | None = None) -> BlobRef:
        """Encrypt and store ``source`` (bytes, a binary file or an iterable of bytes).

        The object is written first, then its metadata row commits; if the commit fails the object is
        removed again. Raises :class:`BlobTooLarge` (nothing stored) when ``max_size`` is exceeded.
        """
        row = self._write_object(source, content_type=content_type, max_size=max_size)
        try:
            with transaction(self._sessions) as session:
                session.add(row)
        except BaseException:
            self._delete_object_quietly(row.id)
            raise
        return _ref(row)

    def put_in(
        self, session: Session, source: Source, *, content_type: str, max_size: int | None = None
    ) -> BlobRef:
        """Like :meth:`put`, recording the blob in the caller's transaction.

        The blob exists only if that transaction commits; on rollback the object is deleted.
        """
        row = self._write_object(source, content_type=content_type, max_size=max_size)
        session.info.setdefault(_PENDING_OBJECTS, []).append((self.store, object_key(row.id)))
        session.add(row)
        session.flush()
        return _ref(row)

    def _write_object(self, source: Source, *, content_type: str, max_size: int | None) -> Blob:
        if len(content_type) > 255 or not _CONTENT_TYPE.fullmatch(content_type):
            raise InvalidInput("Invalid content type.")
        blob_uuid = uuid.uuid4()
        blob_id = str(blob_uuid)
        data_key = new_data_key()
        wrapped = self._keys.wrap(data_key, context=_context(blob_id))  # fail before writing anything
        sealing = _Sealing(Sealer(data_key, blob_uuid, self.chunk_size), max_size=max_size)
        stored = self.store.put(object_key(blob_id), sealing.records(source))
        if stored != ciphertext_size(sealing.size, self.chunk_size):  # a store that lost bytes
            self._delete_object_quietly(blob_id)
            raise BlobIntegrityError("The object store did not take the whole blob.")
        return Blob(
            id=blob_id,
            size=sealing.size,
            sha256=sealing.hasher.hexdigest(),
            content_type=content_type,
            format_version=FORMAT_VERSION,
            chunk_size=self.chunk_size,
            stored_size=stored,
            wrapped_key=wrapped.encode(),
            kek_id=wrapped.kek_id,
            created_at=self._clock.now(),
        )

    def _delete_object_quietly(self, blob_id: str) -> None:
        try:
            self.store.delete(object_key(blob_id))
        except Exception:
            log.warning("could not delete the object of a failed write", exc_info=True)

    # -- reading --------------------------------------------------------------------------------

    def stat(self, blob_id: str, *, session: Session | None = None) -> BlobRef:
        return _ref(self._row(blob_id, session))

    def open(self, blob_id: str, *, session: Session | None = None) -> BlobReader:
        """A streaming reader of the blob's plaintext (close it, or use it as a context manager)."""
        blob_uuid = _parse_id(blob_id)
        row = self._row(blob_id, session)
        key = self._unwrap(row)
        return BlobReader(_ref(row), key, blob_uuid, self.store.open(object_key(blob_id)))

    def read_bytes(
        self, blob_id: str, *, limit: int = DEFAULT_READ_BYTES_LIMIT, session: Session | None = None
    ) -> bytes:
        """The whole plaintext of a small blob; :class:`BlobTooLarge` above ``limit`` bytes."""
        ref = self.stat(blob_id, session=session)
        if ref.size > limit:
            raise BlobTooLarge(f"The blob is larger than {limit} bytes; stream it with open().")
        sink = io.BytesIO()
        with self.open(blob_id, session=session) as reader:
            reader.copy_to(sink)
        return sink.getvalue()

    def read_range(
        self, blob_id: str, start: int, length: int, *, session: Session | None = None
    ) -> Iterator[bytes]:
        """Plaintext bytes ``[start, start + length)`` reading only the records that hold them.

        Each record is authenticated (content, position and whether it is the last); the whole-blob
        SHA-256 is not, since only part of the blob is read.
        """
        blob_uuid = _parse_id(blob_id)
        row = self._row(blob_id, session)
        if start < 0 or length < 0:
            raise InvalidInput("Invalid byte range.")
        end = min(start + length, row.size)
        if start >= end:
            return iter(())
        key = self._unwrap(row)
        return self._range(row, key, blob_uuid, start, end)

    def _range(self, row: Blob, key: bytes, blob_uuid: uuid.UUID, start: int, end: int) -> Iterator[bytes]:
        name = object_key(row.id)
        header_reader = self.store.open(name, start=0, end=HEADER_SIZE)
        try:
            opener = Opener(key, blob_uuid, read_exact(header_reader.read, HEADER_SIZE))
        finally:
            header_reader.close()
        cs, rs = opener.header.chunk_size, opener.record_size
        records = max(1, -(-row.size // cs))
        first, last_needed = start // cs, (end - 1) // cs
        reader = self.store.open(
            name, start=HEADER_SIZE + first * rs, end=HEADER_SIZE + (last_needed + 1) * rs
        )
        try:
            opener.seek_record(first)
            for index in range(first, last_needed + 1):
                record = read_exact(reader.read, rs)
                plain = opener.open(record, last=index == records - 1)
                lo = start - index * cs if index == first else 0
                hi = end - index * cs if index == last_needed else len(plain)
                yield plain[lo:hi]
        finally:
            reader.close()

    def verify(self, blob_id: str) -> BlobRef:
        """Read the whole blob and check it; raises :class:`BlobIntegrityError` if it does not hold."""
        with self.open(blob_id) as reader:
            for _chunk in reader:
                pass
            return reader.ref

    def verify_all(self, *, batch_size: int = 200) -> VerifyReport:
        """Read and check every blob (a full integrity scan); failures are reported, not raised."""
        checked, failures = 0, []
        after = ""
        while True:
            with transaction(self._sessions) as session:
                ids = list(
                    session.scalars(
                        select(Blob.id).where(Blob.id > after).order_by(Blob.id).limit(batch_size)
                    )
                )
            for blob_id in ids:
                checked += 1
                try:
                    self.verify(blob_id)
                except SealpactError as exc:
                    failures.append((blob_id, exc.code))
            if len(ids) < batch_size:
                return VerifyReport(checked=checked, failures=failures)
            after = ids[-1]

    def collect_garbage(self, *, older_than: timedelta, dry_run: bool = False) -> GarbageReport:
        """Delete stored objects that have no metadata row and are older than ``older_than``.

        Such objects are left by a process that died between writing an object and committing its
        row. The age threshold keeps uploads in progress (object written, row not yet committed) safe.
        """
        cutoff = self._clock.now() - older_than
        candidates: list[str] = []
        orphans: list[str] = []
        scanned = 0

        def flush() -> None:
            with transaction(self._sessions) as session:
                known = set(session.scalars(select(Blob.id).where(Blob.id.in_(candidates))))
            orphans.extend(c for c in candidates if c not in known)
            candidates.clear()

        for obj in self.store.list():
            scanned += 1
            blob_id = obj.key.rsplit("/", 1)[-1]
            if object_key(blob_id) != obj.key or obj.modified > cutoff:
                continue  # not one of ours, or too recent to judge
            try:
                _parse_id(blob_id)
            except BlobNotFound:
                continue
            candidates.append(blob_id)
            if len(candidates) >= 500:
                flush()
        flush()
        if not dry_run:
            for blob_id in orphans:
                self.store.delete(object_key(blob_id))
        return GarbageReport(scanned=scanned, orphans=orphans, deleted=0 if dry_run else len(orphans))

    # -- deleting -------------------------------------------------------------------------------

    def delete(self, blob_id: str) -> None:
        """Remove the metadata row, then (after commit) the object."""
        with transaction(self._sessions) as session:
            self.delete_in(session, blob_id)

    def delete_in(self, session: Session, blob_id: str) -> None:
        row = self._row(blob_id, session)
        session.delete(row)
        session.flush()
        on_commit(session, lambda: self._delete_object_quietly(blob_id))

    # -- keys -----------------------------------------------------------------------------------

    def rewrap_all(self, *, batch_size: int = 500) -> int:
        """Re-wrap every blob data key not under the active KEK; one transaction per batch (resumable).

        The ciphertext is not touched: only the wrapped key in each metadata row changes.
        """
        if batch_size < 1:
            raise InvalidInput("batch_size must be at least 1")
        done = 0
        while True:
            with transaction(self._sessions) as session:
                active = self._keys.active_kek_id()
                rows = session.scalars(
                    select(Blob).where(Blob.kek_id != active).order_by(Blob.id).limit(batch_size)
                ).all()
                for row in rows:
                    key = self._unwrap(row)
                    wrapped = self._keys.wrap(key, context=_context(row.id))
                    row.wrapped_key, row.kek_id = wrapped.encode(), wrapped.kek_id
            done += len(rows)
            if len(rows) < batch_size:
                return done

    def count_by_kek(self) -> dict[str, int]:
        with transaction(self._sessions) as session:
            rows = session.execute(select(Blob.kek_id, func.count()).group_by(Blob.kek_id)).all()
        return {kek_id: count for kek_id, count in rows}

    # -- health ---------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise when the blob store cannot be written (served by /healthz as ``storage``)."""
        self.store.check()

    # -- internals ------------------------------------------------------------------------------

    def _row(self, blob_id: str, session: Session | None) -> Blob:
        _parse_id(blob_id)
        if session is not None:
            row = session.get(Blob, blob_id)
        else:
            with transaction(self._sessions) as own:
                row = own.get(Blob, blob_id)
        if row is None:
            raise BlobNotFound("No such blob.")
        return row

    def _unwrap(self, row: Blob) -> bytes:
        return self._keys.unwrap(WrappedKey.decode(row.wrapped_key), context=_context(row.id))
