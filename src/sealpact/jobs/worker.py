"""Running jobs: the ``sealpact worker`` process and the worker embedded in ``sealpact serve``.

Both are a Huey consumer with thread workers over the process's :class:`~sealpact.jobs.queue.JobQueue`,
so every task in the process shares one runtime (one engine and connection pool).

Stopping: SIGTERM (and :meth:`EmbeddedWorker.stop`) waits up to ``jobs_shutdown_timeout_seconds`` for
running jobs; SIGINT stops at once. Jobs still running when the worker gives up waiting are put
back on the queue and run again after the restart, so tasks must be idempotent. A worker killed
hard (SIGKILL, power loss) loses the jobs it was running; domains that cannot lose work keep a
status row and a periodic sweep (see ``notify``).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from huey.consumer import Consumer

from sealpact.jobs.errors import QueueNotConfigured
from sealpact.jobs.queue import JobQueue

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.jobs.worker")


def _consumer_options(queue: JobQueue, workers: int, shutdown_timeout: float) -> dict[str, Any]:
    return {
        "workers": max(1, workers),
        "worker_type": "thread",
        "periodic": True,
        "initial_delay": 0.1,
        "backoff": 1.15,
        "max_delay": 1.0,  # SQLite storage is polled: keep the idle poll short
        "scheduler_interval": 1,
        "shutdown_timeout": shutdown_timeout,
        "graceful_signal": "TERM",  # SIGTERM (service managers, k8s) waits for running jobs
    }


def _huey_of(queue: JobQueue) -> Any:
    if queue.huey is None:
        raise QueueNotConfigured(
            "jobs_immediate is set: jobs run inline and there is no queue for a worker to consume"
        )
    return queue.huey


def run_worker(queue: JobQueue, *, workers: int, shutdown_timeout: float | None = None) -> None:
    """Consume jobs in the foreground until SIGTERM or SIGINT (the ``sealpact worker`` command)."""
    huey = _huey_of(queue)
    timeout = (
        queue.runtime.settings.jobs_shutdown_timeout_seconds if shutdown_timeout is None else shutdown_timeout
    )
    consumer = Consumer(huey, **_consumer_options(queue, workers, timeout))
    log.info("worker starting: %d thread(s), backend %s", max(1, workers), backend_name(queue))
    consumer.run()
    log.info("worker stopped")


class _QuietConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves signal handling to its host (uvicorn owns SIGTERM/SIGINT in serve)."""

    def _set_signal_handlers(self) -> None:
        return None


class EmbeddedWorker:
    """Worker threads inside another process (``sealpact serve`` on the embedded default)."""

    def __init__(self, queue: JobQueue, *, workers: int = 1, shutdown_timeout: float | None = None) -> None:
        self._huey = _huey_of(queue)
        timeout = (
            queue.runtime.settings.jobs_shutdown_timeout_seconds
            if shutdown_timeout is None
            else shutdown_timeout
        )
        self._consumer = _QuietConsumer(self._huey, **_consumer_options(queue, workers, timeout))
        self._started = False

    def start(self) -> None:
        self._consumer.start()
        self._started = True
        log.info("in-process job worker started")

    def stop(self) -> None:
        """Wait for running jobs (up to the shutdown timeout), then requeue any still running."""
        if not self._started:
            return
        self._started = False
        self._consumer.stop(graceful=True)
        self._huey.notify_interrupted_tasks()
        log.info("in-process job worker stopped")

    def __enter__(self) -> EmbeddedWorker:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def backend_name(queue: JobQueue) -> str:
    if queue.huey is None:
        return "immediate"
    return (
        "redis" if queue.runtime.settings.redis_url else f"sqlite ({queue.runtime.settings.huey_sqlite_path})"
    )


def start_embedded_worker(runtime: Runtime, enabled: bool | None) -> EmbeddedWorker | None:
    """Start the in-process worker of ``sealpact serve``; ``enabled=None`` means "unless Redis is set".

    Not in immediate mode (jobs run inline there). The caller stops it when the server stops.
    """
    if enabled is None:
        enabled = not runtime.settings.redis_url
    if not enabled or runtime.settings.jobs_immediate:
        return None
    worker = EmbeddedWorker(runtime.jobs, workers=runtime.settings.jobs_workers)
    worker.start()
    return worker


class _ServerStopped(Exception):
    pass


@contextmanager
def worker_while_serving(runtime: Runtime, enabled: bool | None) -> Iterator[EmbeddedWorker | None]:
    """Run the in-process worker for as long as the web server inside the block runs.

    uvicorn handles SIGTERM/SIGINT itself, shuts down gracefully and then re-raises the signal
    with the handlers it found at start; the handlers set here turn that into a normal return, so
    the worker is stopped (running jobs finish or are put back) before the process exits.
    """
    worker = start_embedded_worker(runtime, enabled)
    if worker is None:
        yield None
        return

    def stopped(signum: int, _frame: FrameType | None) -> None:
        raise _ServerStopped(signum)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, stopped)
    try:
        yield worker
    except _ServerStopped:
        log.info("server stopped by signal")
    finally:
        worker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
