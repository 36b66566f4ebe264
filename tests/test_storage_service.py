"""BlobService on the local backend, on SQLite and PostgreSQL: round trips, streaming, tampering on disk."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sealpact.config import Settings
from sealpact.db import transaction, upgrade
from sealpact.errors import InvalidInput
from sealpact.runtime import Runtime
from sealpact.storage.envelope import HEADER_SIZE, TAG_SIZE
from sealpact.storage.errors import BlobIntegrityError, BlobNotFound, BlobTooLarge
from sealpact.storage.keys.keyring import KeyringKeyProvider
from sealpact.storage.localstore import LocalBlobStore
from sealpact.storage.models import Blob
from sealpact.storage.service import BlobService
from sealpact.storage.store import object_key
from tests.conftest import MASTER_SECRET

CS = 1 << 20  # the default chunk size


def _data(n: int, seed: int = 0) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


class PatternFile(io.RawIOBase):
    """A large file-like source generated on the fly (never held whole), hashing what it hands out."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = _data(1 << 16, seed=7)
        self.offset = 0
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        view = memoryview(buffer)
        n = min(len(view), self.left, len(self.block) - self.offset)
        view[:n] = self.block[self.offset : self.offset + n]
        self.sha.update(view[:n])
        self.offset = (self.offset + n) % len(self.block)
        self.left -= n
        return n


def _path(runtime: Runtime, blob_id: str) -> Path:
    store = runtime.blobs.store
    assert isinstance(store, LocalBlobStore)
    return store.root / object_key(blob_id)


def _row_count(runtime: Runtime) -> int:
    with transaction(runtime.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Blob)) or 0)


@pytest.mark.parametrize("size", [0, 1, CS - 1, CS, CS + 1, 3 * CS + 5])
def test_round_trip_sizes(runtime: Runtime, size: int) -> None:
    data = _data(size)
    ref = runtime.blobs.put(data, content_type="application/pdf")
    assert (ref.size, ref.sha256, ref.content_type) == (
        size,
        hashlib.sha256(data).hexdigest(),
        "application/pdf",
    )
    assert runtime.blobs.read_bytes(ref.id) == data
    with runtime.blobs.open(ref.id) as reader:
        chunks = list(reader)
    assert b"".join(chunks) == data
    assert all(len(c) == CS for c in chunks[:-1])
    with runtime.blobs.open(ref.id) as reader:
        assert reader.read() == data  # the file-like view
    stored = _path(runtime, ref.id).read_bytes()
    assert size < 16 or data[:64] not in stored  # the object holds ciphertext only
    assert len(stored) == HEADER_SIZE + size + max(1, -(-size // CS)) * TAG_SIZE
    with transaction(runtime.sessions) as session:
        row = session.get(Blob, ref.id)
        assert row is not None
        assert row.kek_id == runtime.keys.active_kek_id()
        assert row.wrapped_key.startswith(row.kek_id + ":")
        assert row.stored_size == len(stored)


def test_sources_file_like_read_only_and_iterable(runtime: Runtime) -> None:
    data = _data(2 * CS + 333)

    class ReadOnly:
        def __init__(self, raw: bytes) -> None:
            self.raw = io.BytesIO(raw)

        def read(self, n: int = -1) -> bytes:
            return self.raw.read(min(n, 1000))  # short reads

    for source in (io.BytesIO(data), ReadOnly(data), iter([data[:5], b"", data[5 : CS + 9], data[CS + 9 :]])):
        ref = runtime.blobs.put(source, content_type="application/octet-stream")  # type: ignore[arg-type]
        assert ref.sha256 == hashlib.sha256(data).hexdigest()
        assert runtime.blobs.read_bytes(ref.id) == data


def test_64_mib_streamed_without_holding_it(runtime: Runtime, tmp_path: Path) -> None:
    size = 64 << 20
    source = PatternFile(size)
    tracemalloc.start()
    try:
        ref = runtime.blobs.put(source, content_type="application/pdf")
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sha = hashlib.sha256()
        total = 0
        with runtime.blobs.open(ref.id) as reader:
            for chunk in reader:
                sha.update(chunk)
                total += len(chunk)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref.size == total == size
    assert ref.sha256 == source.sha.hexdigest() == sha.hexdigest()
    # Two plaintext buffers and a record or two: far below the blob's size.
    assert peak_write < 8 * CS, peak_write
    assert peak_read < 8 * CS, peak_read
    with (tmp_path / "out").open("wb") as sink, runtime.blobs.open(ref.id) as reader:
        assert reader.copy_to(sink) == size


def _records(path: Path) -> tuple[bytes, list[bytes]]:
    raw = path.read_bytes()
    step = CS + TAG_SIZE
    body = raw[HEADER_SIZE:]
    return raw[:HEADER_SIZE], [body[i : i + step] for i in range(0, len(body), step)]


def _expect_integrity_error(runtime: Runtime, blob_id: str, match: str | None = None) -> None:
    with pytest.raises(BlobIntegrityError, match=match), runtime.blobs.open(blob_id) as reader:
        for _ in reader:
            pass
    with pytest.raises(BlobIntegrityError):
        runtime.blobs.read_bytes(blob_id)


def test_tampering_on_disk_is_detected(runtime: Runtime) -> None:
    data = _data(3 * CS + 100)
    a = runtime.blobs.put(data, content_type="application/pdf")
    b = runtime.blobs.put(_data(3 * CS + 100, seed=1), content_type="application/pdf")
    path_a, path_b = _path(runtime, a.id), _path(runtime, b.id)
    original = path_a.read_bytes()
    header, records = _records(path_a)
    _, records_b = _records(path_b)

    cases = {
        "bit flip in chunk": original[: HEADER_SIZE + 10]
        + bytes([original[HEADER_SIZE + 10] ^ 1])
        + original[HEADER_SIZE + 11 :],
        "bit flip in header": bytes([original[0] ^ 1]) + original[1:],
        "truncated mid-record": original[:-7],
        "truncated at a record boundary": header + b"".join(records[:2]),
        "final record dropped": header + b"".join(records[:3]),
        "extended": original + b"\x00" * 20,
        "extended by a whole record": original + records[1],
        "records reordered": header + records[1] + records[0] + records[2] + records[3],
        "record swapped in from another blob": header + records[0] + records_b[1] + records[2] + records[3],
        "another blob's object": path_b.read_bytes(),
        "empty": b"",
    }
    for name, content in cases.items():
        path_a.write_bytes(content)
        try:
            _expect_integrity_error(runtime, a.id)
        except BaseException:
            print("case not detected:", name)
            raise
    path_a.write_bytes(original)
    assert runtime.blobs.read_bytes(a.id) == data


def test_metadata_mismatch_is_detected_at_the_end(runtime: Runtime) -> None:
    ref = runtime.blobs.put(b"hello world", content_type="text/plain")
    with transaction(runtime.sessions) as session:
        row = session.get(Blob, ref.id)
        assert row is not None
        row.sha256 = hashlib.sha256(b"something else").hexdigest()
    _expect_integrity_error(runtime, ref.id, match="SHA-256")


def test_missing_object_and_unknown_ids(runtime: Runtime) -> None:
    ref = runtime.blobs.put(b"x", content_type="text/plain")
    _path(runtime, ref.id).unlink()
    with pytest.raises(BlobNotFound):
        runtime.blobs.open(ref.id)
    for bad in ("nope", "../../etc/passwd", "00000000-0000-0000-0000-000000000000", ref.id.upper()):
        with pytest.raises(BlobNotFound):
            runtime.blobs.read_bytes(bad)


def test_too_large_stores_nothing(runtime: Runtime) -> None:
    with pytest.raises(BlobTooLarge):
        runtime.blobs.put(PatternFile(3 * CS), content_type="application/pdf", max_size=2 * CS + 1)
    with pytest.raises(BlobTooLarge):
        runtime.blobs.put(_data(100), content_type="application/pdf", max_size=99)
    assert _row_count(runtime) == 0
    assert list(runtime.blobs.store.list()) == []
    ref = runtime.blobs.put(_data(100), content_type="application/pdf", max_size=100)
    with pytest.raises(BlobTooLarge):
        runtime.blobs.read_bytes(ref.id, limit=99)


def test_invalid_content_type(runtime: Runtime) -> None:
    for bad in ("", "pdf", "text/plain\r\nX: y", "a" * 300 + "/b"):
        with pytest.raises(InvalidInput):
            runtime.blobs.put(b"x", content_type=bad)
    assert _row_count(runtime) == 0


def test_put_in_callers_transaction(runtime: Runtime) -> None:
    session = runtime.sessions()
    try:
        ref = runtime.blobs.put_in(session, b"rolled back", content_type="text/plain")
        assert runtime.blobs.read_bytes(ref.id, session=session) == b"rolled back"
        assert _path(runtime, ref.id).exists()
        session.rollback()
    finally:
        session.close()
    assert not _path(runtime, ref.id).exists()
    with pytest.raises(BlobNotFound):
        runtime.blobs.stat(ref.id)

    with transaction(runtime.sessions) as session:
        kept = runtime.blobs.put_in(session, b"committed", content_type="text/plain")
    assert runtime.blobs.read_bytes(kept.id) == b"committed"
    assert _row_count(runtime) == 1


def test_delete(runtime: Runtime) -> None:
    ref = runtime.blobs.put(b"bye", content_type="text/plain")
    runtime.blobs.delete(ref.id)
    assert not _path(runtime, ref.id).exists()
    with pytest.raises(BlobNotFound):
        runtime.blobs.read_bytes(ref.id)
    with pytest.raises(BlobNotFound):
        runtime.blobs.delete(ref.id)


def test_read_range(runtime: Runtime) -> None:
    data = _data(3 * CS + 77)
    ref = runtime.blobs.put(data, content_type="application/pdf")
    for start, length in [
        (0, 1),
        (0, len(data)),
        (5, 10),
        (CS - 3, 6),
        (CS, CS),
        (2 * CS + 1, 10**9),
        (len(data) - 1, 1),
        (len(data), 5),
        (0, 0),
    ]:
        got = b"".join(runtime.blobs.read_range(ref.id, start, length))
        assert got == data[start : start + length], (start, length)
    with pytest.raises(InvalidInput):
        runtime.blobs.read_range(ref.id, -1, 5)
    # A tampered record inside the range is caught; records outside it are not read.
    path = _path(runtime, ref.id)
    raw = bytearray(path.read_bytes())
    raw[HEADER_SIZE + (CS + TAG_SIZE) + 3] ^= 0x80
    path.write_bytes(bytes(raw))
    assert b"".join(runtime.blobs.read_range(ref.id, 0, 100)) == data[:100]
    with pytest.raises(BlobIntegrityError):
        b"".join(runtime.blobs.read_range(ref.id, CS, 100))


def test_healthz_reports_storage(runtime: Runtime) -> None:
    from sealpact.web.app import create_app

    client = TestClient(create_app(runtime))
    body = client.get("/healthz").json()
    assert body["checks"]["storage"] == "ok"


def test_rotation_then_old_blobs_still_read(runtime: Runtime) -> None:
    old = runtime.blobs.put(_data(CS + 1), content_type="application/pdf")
    old_kek = runtime.keys.active_kek_id()
    new_kek = runtime.keys.rotate()
    assert new_kek != old_kek
    assert runtime.blobs.read_bytes(old.id) == _data(CS + 1)  # not yet re-wrapped: old KEK still serves
    newer = runtime.blobs.put(b"after rotation", content_type="text/plain")
    assert runtime.blobs.count_by_kek() == {old_kek: 1, new_kek: 1}
    before = _path(runtime, old.id).read_bytes()
    assert runtime.blobs.rewrap_all(batch_size=1) == 1
    assert runtime.blobs.rewrap_all() == 0
    assert runtime.blobs.count_by_kek() == {new_kek: 2}
    assert _path(runtime, old.id).read_bytes() == before  # the ciphertext was not rewritten
    fresh = Runtime(runtime.settings)
    try:
        assert fresh.blobs.read_bytes(old.id) == _data(CS + 1)
        assert fresh.blobs.read_bytes(newer.id) == b"after rotation"
    finally:
        fresh.close()


def test_wrong_keyring_cannot_read(runtime: Runtime, tmp_path: Path) -> None:
    from sealpact.storage.keys import KeyUnavailable, UnwrapFailed

    ref = runtime.blobs.put(b"secret contract", content_type="text/plain")
    # A different keyring (another deployment's KEKs) with the same database and files.
    other_path = tmp_path / "other-keyring.json"
    other = KeyringKeyProvider.create(other_path, MASTER_SECRET.encode())
    service = BlobService(runtime.sessions, runtime.blobs.store, other, runtime.clock)
    with pytest.raises(UnwrapFailed, match="unknown key-encryption key"):
        service.read_bytes(ref.id)
    # The right KEK id but a forged keyring does not open: the master secret must match.
    with pytest.raises(KeyUnavailable, match="master secret does not open"):
        KeyringKeyProvider(runtime.settings.keyring_path, b"wrong master secret")
    # A wrapped key moved to another blob's row fails to unwrap (bound to the blob id).
    ref2 = runtime.blobs.put(b"other", content_type="text/plain")
    with transaction(runtime.sessions) as session:
        a, b = session.get(Blob, ref.id), session.get(Blob, ref2.id)
        assert a is not None and b is not None
        a.wrapped_key = b.wrapped_key
    with pytest.raises(UnwrapFailed):
        runtime.blobs.read_bytes(ref.id)


def test_missing_master_secret_is_a_clear_error(settings: Settings) -> None:
    from sealpact.storage.keys import KeyUnavailable

    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    no_secret = settings.model_copy(
        update={"master_secret": None, "master_secret_file": settings.data_dir / "nope"}
    )
    rt = Runtime(no_secret)
    try:
        upgrade(rt.engine)
        with pytest.raises(KeyUnavailable, match="master secret"):
            rt.blobs.put(b"x", content_type="text/plain")
    finally:
        rt.close()


def test_failures_leave_nothing_half_written(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.orm import Session

    from sealpact.storage.keys import KeyUnavailable

    # The metadata commit fails after the object was written: the object is removed again.
    def failing_commit(self: Session) -> None:
        raise RuntimeError("database went away")

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", failing_commit)
        with pytest.raises(RuntimeError, match="went away"):
            runtime.blobs.put(_data(CS + 5), content_type="application/pdf")
    assert list(runtime.blobs.store.list()) == []
    assert _row_count(runtime) == 0

    # The KEK cannot wrap: nothing is written at all.
    def no_kek(data_key: bytes, *, context: bytes) -> None:
        raise KeyUnavailable("The keyring file is missing.")

    with monkeypatch.context() as patch:
        patch.setattr(runtime.keys, "wrap", no_kek)
        with pytest.raises(KeyUnavailable):
            runtime.blobs.put(b"x", content_type="text/plain")
    assert list(runtime.blobs.store.list()) == []

    # The source fails half-way through: the temporary file is gone, no object, no row.
    def broken_source() -> Iterator[bytes]:
        yield _data(2 * CS)
        raise OSError("upload connection reset")

    with pytest.raises(OSError, match="reset"):
        runtime.blobs.put(broken_source(), content_type="application/pdf")
    assert list(runtime.blobs.store.list()) == []
    store = runtime.blobs.store
    assert isinstance(store, LocalBlobStore)
    assert [p for p in store.root.rglob("*") if p.is_file()] == []
    assert _row_count(runtime) == 0


def test_abandoned_reads_stop_their_threads(runtime: Runtime) -> None:
    import threading

    ref = runtime.blobs.put(_data(4 * CS), content_type="application/pdf")
    before = threading.active_count()
    with runtime.blobs.open(ref.id) as reader:
        assert reader.read(10) == _data(10)
        assert threading.active_count() > before  # read-ahead and hashing threads are running
    reader2 = runtime.blobs.open(ref.id)
    chunks = reader2.chunks()
    assert next(chunks) == _data(CS)
    chunks.close()
    reader2.close()
    assert threading.active_count() == before
