"""`sealpact keys` and `sealpact storage` commands; interrupted rotations resume; garbage collection."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sealpact.cli.main import cli
from sealpact.runtime import Runtime
from sealpact.storage.keys import KeyProvider, WrappedKey
from sealpact.storage.localstore import LocalBlobStore
from sealpact.storage.rotation import KeyManagement
from sealpact.storage.store import object_key
from tests.conftest import MASTER_SECRET


def _run(runtime: Runtime, *args: str, input: bytes | None = None) -> tuple[int, str, str]:
    env = {
        "SEALPACT_DATA_DIR": str(runtime.settings.data_dir),
        "SEALPACT_DATABASE_URL": runtime.settings.database_url,
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
        "SEALPACT_STORAGE_URL": runtime.settings.storage_url,
    }
    result = CliRunner().invoke(cli, list(args), env=env, input=input, obj={}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


class FlakyKeys:
    """Delegates to a real provider, but wrap() fails after ``allowed`` calls (a crash mid-rotation)."""

    def __init__(self, inner: KeyProvider, allowed: int) -> None:
        self.inner = inner
        self.allowed = allowed

    @property
    def name(self) -> str:
        return self.inner.name

    def active_kek_id(self) -> str:
        return self.inner.active_kek_id()

    def wrap(self, data_key: bytes, *, context: bytes) -> WrappedKey:
        if self.allowed <= 0:
            raise RuntimeError("simulated crash")
        self.allowed -= 1
        return self.inner.wrap(data_key, context=context)

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        return self.inner.unwrap(wrapped, context=context)

    def rotate(self) -> str:
        return self.inner.rotate()

    def check(self) -> None:
        self.inner.check()


def test_status_rotate_and_resume_after_a_crash(runtime: Runtime) -> None:
    refs = [runtime.blobs.put(f"document {i}".encode(), content_type="text/plain") for i in range(5)]
    token = runtime.fields.encrypt("13800138000", purpose="identity.mobile")
    first_kek = runtime.keys.active_kek_id()

    code, out, _ = _run(runtime, "keys", "status")
    assert code == 0
    assert f"active KEK: {first_kek}" in out
    assert f"{first_kek} (active): 5 blob keys, 1 data keys" in out

    # A rotation that dies after re-wrapping one batch of two blob keys.
    from sealpact.storage.datakeys import DataKeyStore
    from sealpact.storage.service import BlobService

    flaky = FlakyKeys(runtime.keys, allowed=2)
    blobs = BlobService(runtime.sessions, runtime.blobs.store, flaky, runtime.clock)
    manager = KeyManagement(flaky, blobs, DataKeyStore(runtime.sessions, flaky, runtime.clock))
    with pytest.raises(RuntimeError, match="simulated crash"):
        manager.rotate(batch_size=2)
    second_kek = runtime.keys.active_kek_id()
    assert second_kek != first_kek
    status = KeyManagement.from_runtime(runtime).status()
    assert status.blobs_by_kek == {first_kek: 3, second_kek: 2}
    assert status.pending == 4  # three blob keys and the field data key

    code, out, _ = _run(runtime, "keys", "status")
    assert "keys rotate --resume" in out
    code, out, _ = _run(runtime, "keys", "rotate", "--resume", "--batch-size", "2")
    assert code == 0, out
    assert f"active KEK: {second_kek}" in out
    assert "re-wrapped 3 blob keys and 1 data keys" in out

    code, out, _ = _run(runtime, "keys", "rotate")
    assert code == 0
    assert "re-wrapped 5 blob keys and 1 data keys" in out
    third = KeyManagement.from_runtime(runtime).status()
    assert third.pending == 0
    assert third.active_kek_id not in {first_kek, second_kek}

    fresh = Runtime(runtime.settings)
    try:
        for i, ref in enumerate(refs):
            assert fresh.blobs.read_bytes(ref.id) == f"document {i}".encode()
        assert fresh.fields.decrypt(token, purpose="identity.mobile") == "13800138000"
    finally:
        fresh.close()


def test_wrong_master_secret_is_a_cli_error(runtime: Runtime) -> None:
    env = {
        "SEALPACT_DATA_DIR": str(runtime.settings.data_dir),
        "SEALPACT_DATABASE_URL": runtime.settings.database_url,
        "SEALPACT_MASTER_SECRET": "wrong-" + MASTER_SECRET,
    }
    result = CliRunner().invoke(cli, ["keys", "status"], env=env, obj={})
    assert result.exit_code == 1
    assert "master secret does not open this keyring" in result.stderr
    assert MASTER_SECRET not in result.stderr + result.stdout


def test_storage_put_get_verify(runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "contract.pdf"
    source.write_bytes(b"%PDF-1.7\n" + os.urandom(3 << 20))
    code, out, _ = _run(runtime, "storage", "put", str(source), "--content-type", "application/pdf")
    assert code == 0
    blob_id, size, _sha = out.split()
    assert int(size) == source.stat().st_size
    target = tmp_path / "out.pdf"
    code, _, _ = _run(runtime, "storage", "get", blob_id, "-o", str(target))
    assert code == 0
    assert target.read_bytes() == source.read_bytes()
    code, out, _ = _run(runtime, "storage", "verify")
    assert (code, out.strip()) == (0, "1 blobs checked, 0 failed")
    code, out, _ = _run(runtime, "storage", "check")
    assert code == 0 and "storage ok: file://" in out

    # Tamper with the stored file: verify fails, get writes nothing.
    store = runtime.blobs.store
    assert isinstance(store, LocalBlobStore)
    path = store.root / object_key(blob_id)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    code, _, err = _run(runtime, "storage", "verify")
    assert code == 1 and f"FAILED {blob_id}: blob_integrity" in err
    broken = tmp_path / "broken.pdf"
    code, _, err = _run(runtime, "storage", "get", blob_id, "-o", str(broken))
    assert code == 1 and "blob_integrity" in err
    assert not broken.exists()
    code, _, err = _run(runtime, "storage", "get", "no-such-blob")
    assert code == 1 and "blob_not_found" in err


def test_garbage_collection_removes_only_old_orphans(runtime: Runtime) -> None:
    kept = runtime.blobs.put(b"kept", content_type="text/plain")
    store = runtime.blobs.store
    assert isinstance(store, LocalBlobStore)
    orphan_id = "0b5e6c1e-2a44-4f0e-9a8e-3f7f1b1a0001"
    store.put(object_key(orphan_id), [b"left by a crash"])
    store.put("not/ours/file", [b"x"])
    # Nothing is old enough yet (the objects were just written).
    report = runtime.blobs.collect_garbage(older_than=timedelta(hours=1))
    assert report.orphans == []
    # Seen from two hours later, the orphan is collected and the rest left alone.
    runtime.clock = _Later(timedelta(hours=2))
    runtime.__dict__.pop("blobs", None)
    dry = runtime.blobs.collect_garbage(older_than=timedelta(hours=1), dry_run=True)
    assert (dry.orphans, dry.deleted) == ([orphan_id], 0)
    report = runtime.blobs.collect_garbage(older_than=timedelta(hours=1))
    assert (report.scanned, report.orphans, report.deleted) == (3, [orphan_id], 1)
    assert runtime.blobs.read_bytes(kept.id) == b"kept"
    assert {o.key for o in store.list()} == {object_key(kept.id), "not/ours/file"}


class _Later:
    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead
