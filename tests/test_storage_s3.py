"""The S3 backend against a running SeaweedFS (authenticated S3), with metadata on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealpact.db import upgrade
from sealpact.runtime import Runtime
from sealpact.storage.envelope import HEADER_SIZE, TAG_SIZE
from sealpact.storage.errors import BackendError, BlobIntegrityError, BlobNotFound, BlobTooLarge
from sealpact.storage.keys.keyring import KeyringKeyProvider
from sealpact.storage.s3 import S3BlobStore
from sealpact.storage.store import build_blob_store, object_key, parse_s3_url
from tests.conftest import MASTER_SECRET, make_settings
from tests.seaweed import Seaweed, seaweed  # noqa: F401

CS = 1 << 20


def _bucket() -> str:
    return "sp-" + secrets.token_hex(6)


@pytest.fixture
def s3_runtime(tmp_path: Path, database_url: str, seaweed: Seaweed) -> Iterator[Runtime]:  # noqa: F811
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = make_settings(
        data_dir,
        database_url=database_url,
        storage_url=seaweed.storage_url(_bucket()),
        s3_access_key=seaweed.access_key,
        s3_secret_key=seaweed.secret_key,
    )
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    rt = Runtime(settings)
    upgrade(rt.engine)
    store = rt.blobs.store
    assert isinstance(store, S3BlobStore)
    store.ensure_bucket(create=True)
    try:
        yield rt
    finally:
        rt.close()


def _store(rt: Runtime) -> S3BlobStore:
    store = rt.blobs.store
    assert isinstance(store, S3BlobStore)
    return store


def _object(rt: Runtime, blob_id: str) -> bytes:
    store = _store(rt)
    body: bytes = store._client.get_object(Bucket=store.location.bucket, Key=object_key(blob_id))[
        "Body"
    ].read()
    return body


def _replace_object(rt: Runtime, blob_id: str, content: bytes) -> None:
    store = _store(rt)
    store._client.put_object(Bucket=store.location.bucket, Key=object_key(blob_id), Body=content)


def test_url_parsing() -> None:
    loc = parse_s3_url("s3://bucket/some/prefix?endpoint=http://127.0.0.1:8333&region=eu-west-1")
    assert (loc.bucket, loc.endpoint, loc.region, loc.prefix) == (
        "bucket",
        "http://127.0.0.1:8333",
        "eu-west-1",
        "some/prefix/",
    )
    assert parse_s3_url("s3://b").prefix == ""
    from sealpact.storage.errors import InvalidStorageUrl

    for bad in ("s3://", "s3://b?endpoint=ftp://x", "s3://b?bogus=1", "http://b"):
        with pytest.raises(InvalidStorageUrl):
            parse_s3_url(bad)


@pytest.mark.parametrize("size", [0, 1, CS - 1, CS + 1, 20 * CS + 3])
def test_round_trip_through_seaweedfs(s3_runtime: Runtime, size: int) -> None:
    data = secrets.token_bytes(size)
    ref = s3_runtime.blobs.put(data, content_type="application/pdf")
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    stored = _object(s3_runtime, ref.id)
    assert len(stored) == HEADER_SIZE + size + max(1, -(-size // CS)) * TAG_SIZE
    with s3_runtime.blobs.open(ref.id) as reader:
        assert b"".join(reader) == data
    assert (
        b"".join(s3_runtime.blobs.read_range(ref.id, size // 3, CS + 5))
        == data[size // 3 : size // 3 + CS + 5]
    )
    listed = {o.key: o.size for o in _store(s3_runtime).list()}
    assert listed[object_key(ref.id)] == len(stored)


def test_tampering_in_the_bucket_is_detected(s3_runtime: Runtime) -> None:
    rt = s3_runtime
    a = rt.blobs.put(secrets.token_bytes(2 * CS + 10), content_type="application/pdf")
    b = rt.blobs.put(secrets.token_bytes(2 * CS + 10), content_type="application/pdf")
    original, other = _object(rt, a.id), _object(rt, b.id)
    step = CS + TAG_SIZE
    ra = [original[HEADER_SIZE + i * step : HEADER_SIZE + (i + 1) * step] for i in range(3)]
    rb = [other[HEADER_SIZE + i * step : HEADER_SIZE + (i + 1) * step] for i in range(3)]
    header = original[:HEADER_SIZE]
    flipped = bytearray(original)
    flipped[HEADER_SIZE + CS + 40] ^= 0x01
    for content in (
        bytes(flipped),
        original[:-1],
        header + ra[0] + ra[1],
        original + b"x",
        header + ra[1] + ra[0] + ra[2],
        header + ra[0] + rb[1] + ra[2],
        other,
    ):
        _replace_object(rt, a.id, content)
        with pytest.raises(BlobIntegrityError):
            rt.blobs.read_bytes(a.id)
    _replace_object(rt, a.id, original)
    rt.blobs.verify(a.id)


def test_failed_upload_leaves_nothing(s3_runtime: Runtime) -> None:
    rt = s3_runtime
    store = _store(rt)
    with pytest.raises(BlobTooLarge):
        # Big enough that the multipart upload has started before the limit trips.
        rt.blobs.put(iter([secrets.token_bytes(CS)] * 12), content_type="application/pdf", max_size=11 * CS)
    assert list(store.list()) == []
    uploads = store._client.list_multipart_uploads(Bucket=store.location.bucket).get("Uploads", [])
    assert uploads == []


def test_delete_and_missing(s3_runtime: Runtime) -> None:
    ref = s3_runtime.blobs.put(b"to delete", content_type="text/plain")
    s3_runtime.blobs.delete(ref.id)
    assert list(_store(s3_runtime).list()) == []
    with pytest.raises(BlobNotFound):
        s3_runtime.blobs.open(ref.id)
    kept = s3_runtime.blobs.put(b"object vanishes", content_type="text/plain")
    _store(s3_runtime).delete(object_key(kept.id))
    with pytest.raises(BlobNotFound):
        s3_runtime.blobs.read_bytes(kept.id)


def test_bucket_is_created_only_when_asked(tmp_path: Path, seaweed: Seaweed) -> None:  # noqa: F811
    settings = make_settings(
        tmp_path,
        storage_url=seaweed.storage_url(_bucket()),
        s3_access_key=seaweed.access_key,
        s3_secret_key=seaweed.secret_key,
    )
    store = build_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    with pytest.raises(BackendError, match="bucket does not exist"):
        store.check()
    with pytest.raises(BackendError):
        store.ensure_bucket(create=False)
    with pytest.raises(BackendError, match="NoSuchBucket"):
        store.put("aa/bb/x", [b"data"])
    assert store.ensure_bucket(create=True) is True
    assert store.ensure_bucket(create=True) is False
    store.check()


def test_wrong_credentials_are_a_clean_error(tmp_path: Path, seaweed: Seaweed) -> None:  # noqa: F811
    wrong_secret = "not-the-secret-" + secrets.token_hex(4)
    settings = make_settings(
        tmp_path,
        storage_url=seaweed.storage_url(_bucket()),
        s3_access_key=seaweed.access_key,
        s3_secret_key=wrong_secret,
    )
    store = build_blob_store(settings)
    with pytest.raises(BackendError) as info:
        store.put("aa/bb/x", [b"data"])
    assert "SignatureDoesNotMatch" in info.value.message
    assert wrong_secret not in info.value.message
    assert seaweed.secret_key not in info.value.message


def test_unreachable_endpoint(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, storage_url="s3://bucket?endpoint=http://127.0.0.1:9", s3_access_key="a", s3_secret_key="b"
    )
    with pytest.raises(BackendError, match="unreachable"):
        build_blob_store(settings).check()
