"""Background jobs: a persistent task queue (Huey on SQLite or Redis), enqueued after commit.

Define a task in a domain's ``tasks`` module (listed in :data:`registry.TASK_MODULES`)::

    from sealpact.jobs import JobContext, task

    @task("contracts.remind")
    def remind(ctx: JobContext, envelope_id: str) -> None:
        with transaction(ctx.runtime.sessions) as session: ...

and enqueue it from a service, inside the caller's transaction::

    runtime.jobs.enqueue_after_commit(session, "contracts.remind", envelope_id=envelope.id)

Raise :class:`PermanentJobError` when a retry cannot help; any other exception is retried with
exponential backoff and jitter up to ``settings.jobs_max_retries`` times.
"""

from __future__ import annotations

from sealpact.jobs.errors import (
    InvalidJobArguments,
    JobError,
    PermanentJobError,
    QueueNotConfigured,
    UnknownTask,
)
from sealpact.jobs.queue import JobQueue
from sealpact.jobs.registry import JobContext, TaskSpec, periodic, task

__all__ = [
    "InvalidJobArguments",
    "JobContext",
    "JobError",
    "JobQueue",
    "PermanentJobError",
    "QueueNotConfigured",
    "TaskSpec",
    "UnknownTask",
    "periodic",
    "task",
]
