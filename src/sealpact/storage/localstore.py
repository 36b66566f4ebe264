"""Blob store on the local filesystem (the embedded default): atomic writes, sharded directories."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sealpact.storage.errors import BackendError, BlobNotFound
from sealpact.storage.localfs import atomic_write_chunks, make_dirs_durable
from sealpact.storage.store import Chunk, StoredObject


class _RangeReader:
    def __init__(self, path: Path, start: int, end: int | None) -> None:
        self._file = path.open("rb", buffering=0)
        try:
            if start:
                self._file.seek(start)
        except BaseException:
            self._file.close()
            raise
        self._left = None if end is None else max(0, end - start)

    def read(self, size: int) -> bytes:
        if self._left is not None:
            size = min(size, self._left)
            if size <= 0:
                return b""
        data = self._file.read(size) or b""
        if self._left is not None:
            self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


class LocalBlobStore:
    """Objects as files under ``root``; each written via temp file + fsync + rename (+ directory fsync)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def description(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not parts or any(p in {"", ".", ".."} or "\\" in p or p.startswith(".") for p in parts):
            raise BlobNotFound("No such stored object.")
        return self.root.joinpath(*parts)

    def put(self, key: str, chunks: Iterable[Chunk]) -> int:
        path = self._path(key)
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            make_dirs_durable(path.parent, root=self.root)
        except OSError as exc:
            raise BackendError(f"Cannot create the blob directory ({exc.strerror}).") from exc
        source_failed = False

        def guarded() -> Iterator[Chunk]:
            # Tell the producer's own errors (e.g. an upload that broke off) from the disk's.
            nonlocal source_failed
            iterator = iter(chunks)
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
                except BaseException:
                    source_failed = True
                    raise
                yield chunk

        try:
            return atomic_write_chunks(path, guarded(), mode=0o600)
        except OSError as exc:
            if source_failed:
                raise
            raise BackendError(f"Cannot write the blob ({exc.strerror}).") from exc

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> _RangeReader:
        try:
            return _RangeReader(self._path(key), start, end)
        except FileNotFoundError:
            raise BlobNotFound("The stored object is missing.") from None
        except OSError as exc:
            raise BackendError(f"Cannot read the blob ({exc.strerror}).") from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise BackendError(f"Cannot delete the blob ({exc.strerror}).") from exc

    def list(self) -> Iterator[StoredObject]:
        if not self.root.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith("."):
                    continue  # a write in progress (or one that crashed): not an object
                path = Path(dirpath) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                yield StoredObject(
                    key=path.relative_to(self.root).as_posix(),
                    size=stat.st_size,
                    modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                )

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise BackendError("The blob directory cannot be created.") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise BackendError("The blob directory is not writable.")
