"""Where encrypted objects live: one protocol, a local-filesystem and an S3-compatible implementation.

Stores only ever see ciphertext; they know nothing about keys or blob metadata. Object keys are
derived from blob ids and sharded (``ab/cd/<id>``) so no directory or listing grows without bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sealpact.config import Settings
from sealpact.storage.errors import InvalidStorageUrl

Chunk = bytes | bytearray | memoryview


class ObjectReader(Protocol):
    """A stream of one stored object's bytes."""

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` only at the end of the object."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


class BlobStore(Protocol):
    """An object store for ciphertext. Writes are all-or-nothing: readers never see a partial object."""

    @property
    def description(self) -> str:
        """Where objects go, for humans (no credentials)."""
        ...

    def put(self, key: str, chunks: Iterable[Chunk]) -> int:
        """Store the concatenated ``chunks`` under ``key``; returns the byte count.

        Each chunk is consumed before the next is requested (the producer may reuse one buffer). If
        the iterable raises, nothing is stored and the error propagates.
        """
        ...

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectReader:
        """Stream bytes ``[start, end)`` of the object; raises :class:`BlobNotFound` if it is missing."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    def list(self) -> Iterator[StoredObject]:
        """Every stored object (for consistency checks and garbage collection)."""
        ...

    def check(self) -> None:
        """Raise :class:`BackendError` when the store cannot be written (health check)."""
        ...


def object_key(blob_id: str) -> str:
    return f"{blob_id[:2]}/{blob_id[2:4]}/{blob_id}"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    endpoint: str | None
    region: str | None
    prefix: str


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket[/prefix]?endpoint=http://host:port&region=us-east-1``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise InvalidStorageUrl("An S3 storage URL looks like s3://bucket?endpoint=http://host:8333")
    query = parse_qs(parts.query)
    unknown = set(query) - {"endpoint", "region"}
    if unknown:
        raise InvalidStorageUrl(f"Unknown S3 storage URL option(s): {', '.join(sorted(unknown))}")
    endpoint = query.get("endpoint", [None])[-1]
    if endpoint is not None and urlsplit(endpoint).scheme not in {"http", "https"}:
        raise InvalidStorageUrl("The S3 endpoint must be an http:// or https:// URL.")
    prefix = unquote(parts.path).strip("/")
    return S3Location(
        bucket=parts.netloc,
        endpoint=endpoint,
        region=query.get("region", [None])[-1],
        prefix=f"{prefix}/" if prefix else "",
    )


def build_blob_store(settings: Settings) -> BlobStore:
    """The store named by ``settings.storage_url`` (``file://...`` or ``s3://...``)."""
    url = settings.storage_url
    scheme = urlsplit(url).scheme
    if scheme == "file":
        from pathlib import Path

        from sealpact.storage.localstore import LocalBlobStore

        path = unquote(urlsplit(url).path)
        if not path.startswith("/"):
            raise InvalidStorageUrl(
                "A file storage URL needs an absolute path: file:///var/lib/sealpact/blobs"
            )
        return LocalBlobStore(Path(path))
    if scheme == "s3":
        from sealpact.storage.s3 import S3BlobStore

        location = parse_s3_url(url)
        return S3BlobStore(
            location,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
            region=location.region or settings.s3_region,
        )
    raise InvalidStorageUrl("The storage URL must start with file:// or s3://")
