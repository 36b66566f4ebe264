"""Crash-safe local file writes: temp file in the same directory, fsync, rename, fsync the directory."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    atomic_write_chunks(path, [data], mode=mode)


def atomic_write_chunks(
    path: Path, chunks: Iterable[bytes | bytearray | memoryview], *, mode: int = 0o600
) -> int:
    """Write ``chunks`` to ``path`` atomically; returns the byte count. Readers never see a partial file.

    Each chunk is written before the next is requested, so an iterator may reuse one buffer. If the
    iterator raises, the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    written = 0
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", closefd=True) as handle:
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(path.parent)
    return written


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (POSIX needs the directory itself synced)."""
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def make_dirs_durable(path: Path, *, root: Path) -> None:
    """Create ``path`` (below ``root``) and fsync each parent that gained an entry."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != root and root in current.parents:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # a concurrent writer made it; it also syncs the parent
        fsync_dir(directory.parent)
