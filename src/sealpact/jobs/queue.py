"""The job queue: Huey on SQLite (embedded default) or on Redis (``settings.redis_url``), or inline.

The same registered task code runs in all three modes:

* **Huey on SQLite** at ``settings.huey_sqlite_path`` when no Redis is configured: persistent, no server.
* **Huey on Redis** when ``settings.redis_url`` is set: several worker processes and hosts.
* **Immediate** (``settings.jobs_immediate``, tests only): the job runs inline, right after the
  commit that enqueued it, with its retries run back to back. Nothing is persisted.

Retries are ours, not Huey's: a failed attempt schedules a fresh Huey task carrying the attempt
number, delayed by exponential backoff with jitter (Huey's own backoff has no jitter and its retry
counters are not visible to the task). Final failures land in ``job_failures``; logs carry the task
name, job id, attempt and error class, never arguments or exception text.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from sealpact.db import on_commit, transaction
from sealpact.jobs.backoff import backoff_delay
from sealpact.jobs.errors import InvalidJobArguments, PermanentJobError
from sealpact.jobs.models import JobFailure
from sealpact.jobs.registry import JobContext, TaskRegistry, TaskSpec, describe_error, load_tasks

if TYPE_CHECKING:
    from sealpact.config import Settings
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.jobs")

# Keyword names the queue itself uses inside a Huey message.
_ATTEMPT = "_attempt"
_JOB_ID = "_job_id"
_RESERVED = {"task", "ctx"}
# Huey names a task class "<module>.<name>"; fixed here so moving code never orphans queued messages.
_HUEY_MODULE = "sealpact.jobs"

Outcome = Literal["done", "retry", "failed"]


def build_huey(settings: Settings) -> Any:
    """The Huey instance for these settings (Redis when configured, else the SQLite file)."""
    from huey import RedisHuey, SqliteHuey

    if settings.redis_url:
        return RedisHuey(settings.jobs_queue_name, url=settings.redis_url, results=False, utc=True)
    path = settings.huey_sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # A 30 s busy timeout: the web process and the worker share the file.
    return SqliteHuey(settings.jobs_queue_name, filename=str(path), results=False, utc=True, timeout=30)


class JobQueue:
    """Enqueue registered tasks by name; run them with the process's runtime.

    Built once per process (``Runtime.jobs``); the worker uses :attr:`huey` to consume.
    """

    def __init__(
        self,
        runtime: Runtime,
        registry: TaskRegistry | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.registry = registry or load_tasks(settings.jobs_task_modules)
        self.immediate: bool = settings.jobs_immediate
        self.max_attempts = max(1, settings.jobs_max_retries + 1)
        self.retry_base_seconds = settings.jobs_retry_base_seconds
        self._rng = rng or random.SystemRandom()
        self._rng_lock = threading.Lock()
        self._huey: Any = None
        self._wrappers: dict[str, Any] = {}
        if not self.immediate:
            self._huey = build_huey(settings)
            for spec in self.registry:
                self._bind(spec)
            self._huey.signal("interrupted")(self._requeue_interrupted)

    # --- enqueueing -----------------------------------------------------------------------------

    @property
    def huey(self) -> Any:
        """The underlying Huey instance (``None`` in immediate mode)."""
        return self._huey

    def enqueue_after_commit(self, session: Session, name: str, **kwargs: Any) -> None:
        """Enqueue ``name(**kwargs)`` once ``session``'s transaction commits; nothing on rollback.

        Arguments are checked now, so a bad call fails inside the caller's transaction. If the
        queue is unreachable after the commit the error is logged, not raised (the data is already
        committed); domains whose jobs must not be lost keep a status row and a sweep (see notify).
        """
        self._check(name, kwargs)
        # Begin the transaction now: a session that has not begun one ignores rollback() (no
        # after_soft_rollback event), and its next commit would then run this callback anyway.
        session.connection()
        on_commit(session, lambda: self._enqueue_after_commit(name, kwargs))

    def enqueue(self, name: str, **kwargs: Any) -> str:
        """Enqueue now (outside any transaction: sweeps, CLI). Returns the job id."""
        self._check(name, kwargs)
        return self._submit(name, kwargs, attempt=1, job_id=_new_job_id(), delay=None)

    def _enqueue_after_commit(self, name: str, kwargs: dict[str, Any]) -> None:
        try:
            self._submit(name, kwargs, attempt=1, job_id=_new_job_id(), delay=None)
        except Exception as exc:
            log.error("could not enqueue %s after commit: %s", name, describe_error(exc))

    def _check(self, name: str, kwargs: dict[str, Any]) -> None:
        spec = self.registry.get(name)
        if spec.periodic:
            raise InvalidJobArguments(f"{name} is periodic; the workers schedule it")
        if self._huey is not None and name not in self._wrappers:
            self._bind(spec)  # a task module imported after this queue was built
        for key in kwargs:
            if key in _RESERVED or key.startswith("_"):
                raise InvalidJobArguments(f"job argument name {key!r} is reserved")
        try:
            json.dumps(kwargs, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidJobArguments(f"arguments of {name} must be JSON values (pass ids)") from None

    def _submit(
        self, name: str, kwargs: dict[str, Any], *, attempt: int, job_id: str, delay: float | None
    ) -> str:
        if self.immediate:
            self._run_inline(self.registry.get(name), kwargs, job_id)
            return job_id
        payload = {**kwargs, _ATTEMPT: attempt, _JOB_ID: job_id}
        wrapper = self._wrappers[name]
        if delay is None:
            wrapper(**payload)
        else:
            wrapper.schedule(kwargs=payload, delay=delay)
        return job_id

    # --- running ----------------------------------------------------------------------------------

    def _bind(self, spec: TaskSpec) -> None:
        """Register ``spec`` with Huey as a closure over this queue (and so this process's runtime)."""

        def run(task: Any, **payload: Any) -> None:
            self.run_attempt(spec, payload, fallback_job_id=str(task.id))

        run.__module__ = _HUEY_MODULE
        if spec.every_minutes is not None:
            from huey import crontab

            schedule = crontab(minute=f"*/{spec.every_minutes}")
            wrapper = self._huey.periodic_task(schedule, name=spec.name, context=True)(run)
        else:
            wrapper = self._huey.task(name=spec.name, context=True)(run)
        self._wrappers[spec.name] = wrapper

    def run_attempt(self, spec: TaskSpec, payload: dict[str, Any], *, fallback_job_id: str) -> Outcome:
        """Run one attempt; on failure schedule the next one or record the final failure.

        Returns ``"done"``, ``"retry"`` (next attempt scheduled) or ``"failed"``. Never raises an
        ``Exception`` (Huey would log its text and traceback); interrupts (``BaseException``) pass through.
        """
        kwargs = dict(payload)
        attempt = int(kwargs.pop(_ATTEMPT, 1))
        job_id = str(kwargs.pop(_JOB_ID, fallback_job_id))
        max_attempts = self.max_attempts if spec.retry else 1
        next_delay = self._delay_after(attempt) if attempt < max_attempts else None
        ctx = JobContext(
            runtime=self.runtime,
            job_id=job_id,
            name=spec.name,
            attempt=attempt,
            max_attempts=max_attempts,
            next_retry_delay=next_delay,
        )
        try:
            spec.func(ctx, **kwargs)
        except PermanentJobError as exc:
            self._final_failure(spec, job_id, attempt, exc, permanent=True)
            return "failed"
        except Exception as exc:
            if next_delay is None:
                self._final_failure(spec, job_id, attempt, exc, permanent=False)
                return "failed"
            log.warning(
                "job %s %s attempt %d/%d failed (%s); retrying in %.1fs",
                spec.name,
                job_id,
                attempt,
                max_attempts,
                describe_error(exc),
                next_delay,
            )
            if not self.immediate:
                try:
                    self._submit(spec.name, kwargs, attempt=attempt + 1, job_id=job_id, delay=next_delay)
                except Exception as queue_exc:
                    log.error("could not schedule the retry of job %s: %s", job_id, describe_error(queue_exc))
                    return "failed"
            return "retry"
        log.info("job %s %s done (attempt %d)", spec.name, job_id, attempt)
        return "done"

    def _run_inline(self, spec: TaskSpec, kwargs: dict[str, Any], job_id: str) -> None:
        # Immediate mode: the same attempts, back to back, without sleeping.
        attempt = 1
        while (
            self.run_attempt(spec, {**kwargs, _ATTEMPT: attempt, _JOB_ID: job_id}, fallback_job_id=job_id)
            == "retry"
        ):
            attempt += 1

    def _delay_after(self, attempt: int) -> float:
        if self.immediate:
            return 0.0
        with self._rng_lock:
            return backoff_delay(attempt, self.retry_base_seconds, self._rng)

    def _final_failure(
        self, spec: TaskSpec, job_id: str, attempts: int, exc: BaseException, *, permanent: bool
    ) -> None:
        error = describe_error(exc)
        log.error(
            "job %s %s failed for good after %d attempt(s)%s: %s",
            spec.name,
            job_id,
            attempts,
            " (permanent error)" if permanent else "",
            error,
        )
        if spec.periodic:
            return  # the next run tries again; no row per missed tick
        try:
            with transaction(self.runtime.sessions) as session:
                session.add(
                    JobFailure(
                        job_id=job_id,
                        task_name=spec.name,
                        attempts=attempts,
                        error=error,
                        permanent=permanent,
                        failed_at=self.runtime.clock.now(),
                    )
                )
        except Exception as db_exc:
            log.error("could not record the failure of job %s: %s", job_id, describe_error(db_exc))

    def _requeue_interrupted(self, _signal: str, task: Any) -> None:
        """A worker stopping mid-job puts the job back, so it runs again after the restart."""
        from huey.api import PeriodicTask

        if isinstance(task, PeriodicTask):
            return
        try:
            self._huey.enqueue(task)
            log.warning("job %s interrupted by shutdown; put back on the queue", task.id)
        except Exception as exc:
            log.error("could not requeue interrupted job %s: %s", task.id, describe_error(exc))

    # --- inspection -------------------------------------------------------------------------------

    def pending_count(self) -> int:
        """Jobs waiting to run now (not counting scheduled retries)."""
        return 0 if self._huey is None else int(self._huey.pending_count())

    def pending_names(self) -> list[str]:
        """Task names of the jobs waiting to run now, in queue order."""
        if self._huey is None:
            return []
        return [type(task).__name__ for task in self._huey.pending()]

    def scheduled_count(self) -> int:
        return 0 if self._huey is None else int(self._huey.scheduled_count())

    def check(self) -> None:
        """Raise when the queue backend (the SQLite file, Redis) is unusable (served by /healthz)."""
        if self._huey is not None:
            self._huey.pending_count()

    def close(self) -> None:
        if self._huey is None:
            return
        self._huey.storage.close()
        pool = getattr(self._huey.storage, "pool", None)  # Redis: close() leaves the pool open
        if pool is not None:
            pool.disconnect()


def _new_job_id() -> str:
    return str(uuid.uuid4())


def recent_failures(runtime: Runtime, *, limit: int = 20) -> list[JobFailure]:
    """Jobs that failed for good, newest first."""
    from sqlalchemy import select

    with transaction(runtime.sessions) as session:
        rows = list(session.scalars(select(JobFailure).order_by(JobFailure.failed_at.desc()).limit(limit)))
        session.expunge_all()
        return rows
