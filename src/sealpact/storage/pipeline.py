"""Overlapping the stages of a blob stream on more than one core.

Reading and writing files (and sockets) and ``hashlib`` on large buffers release the GIL, and so does
AES-GCM in ``cryptography``; a put or read therefore runs faster when reading ahead, hashing and
encrypting/decrypting happen in different threads. Both helpers here keep memory bounded: a fixed
number of items in flight, buffers recycled rather than allocated per chunk.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")

THREAD_MIN = 64 << 10  # below this, handing work to a thread costs more than it saves


class Hasher:
    """SHA-256 fed in order; large updates run in a helper thread while the caller works on.

    :meth:`update` first waits for the previous update, so once it returns the buffer given to the
    update before is no longer read and may be refilled.
    """

    def __init__(self, threaded: bool) -> None:
        self._hash = hashlib.sha256()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sealpact-hash") if threaded else None
        self._pending: Future[None] | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self.wait()
        if self._pool is None or len(data) < THREAD_MIN:
            self._hash.update(data)
        else:
            self._pending = self._pool.submit(self._hash.update, data)

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def hexdigest(self) -> str:
        self.wait()
        return self._hash.hexdigest()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()


class Prefetch(Generic[T]):
    """Run ``produce(stop)`` in a helper thread, at most ``depth`` items ahead of the consumer.

    Iterate to consume; an exception in the producer is re-raised in the consumer. Always
    :meth:`close` (it stops and joins the thread); ``produce`` should return soon after ``stop`` is set.
    """

    def __init__(self, produce: Callable[[threading.Event], Iterator[T]], *, depth: int = 2) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(produce,), name="sealpact-prefetch", daemon=True
        )
        self._thread.start()

    def _run(self, produce: Callable[[threading.Event], Iterator[T]]) -> None:
        items = produce(self._stop)
        try:
            for item in items:
                if not self._offer(item):
                    return
            self._offer(_END)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._offer(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _offer(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join()


def readinto_full(readinto: Callable[[memoryview], int | None], buffer: bytearray) -> int:
    """Fill ``buffer`` from ``readinto`` (retrying short reads); fewer bytes only at end of stream."""
    view = memoryview(buffer)
    got = 0
    while got < len(buffer):
        n = readinto(view[got:])
        if not n:
            break
        got += n
    return got


def read_chunks_into_ring(
    readinto: Callable[[memoryview], int | None], chunk_size: int, free: queue.Queue[bytearray]
) -> Callable[[threading.Event], Iterator[tuple[bytearray, int]]]:
    """A producer for :class:`Prefetch`: fills buffers taken from ``free`` (the consumer gives them
    back when done), yielding ``(buffer, length)``; a length below ``chunk_size`` marks the end."""

    def produce(stop: threading.Event) -> Iterator[tuple[bytearray, int]]:
        while not stop.is_set():
            try:
                buffer = free.get(timeout=0.05)
            except queue.Empty:
                continue
            filled = readinto_full(readinto, buffer)
            yield buffer, filled
            if filled < chunk_size:
                return

    return produce
