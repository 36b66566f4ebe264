"""Tasks used by the jobs tests, in their own module so a `sealpact worker` subprocess can load them
(``SEALPACT_JOBS_TASK_MODULES=["tests.test_jobs_support"]``). They record progress in files because
they may run in another process."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sealpact.jobs import JobContext, PermanentJobError, task


def _log(path: str, ctx: JobContext, event: str) -> None:
    record = {"job": ctx.job_id, "attempt": ctx.attempt, "pid": os.getpid(), "event": event}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def read_log(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@task("testing.record")
def record(ctx: JobContext, log: str, value: str) -> None:
    _log(log, ctx, f"ran:{value}")


@task("testing.flaky")
def flaky(ctx: JobContext, log: str, fail_times: int) -> None:
    """Fails its first ``fail_times`` attempts, then succeeds."""
    if ctx.attempt <= fail_times:
        _log(log, ctx, "fail")
        raise ConnectionError("simulated outage (password=hunter2 must never reach the logs)")
    _log(log, ctx, "ok")


@task("testing.permanent")
def permanent(ctx: JobContext, log: str) -> None:
    _log(log, ctx, "fail")
    raise PermanentJobError("cannot succeed")


@task("testing.gated")
def gated(ctx: JobContext, log: str, gate: str) -> None:
    """Starts, then waits until the file ``gate`` exists (so a test can stop the worker mid-job)."""
    _log(log, ctx, "start")
    deadline = time.monotonic() + 120
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            raise TimeoutError("gate never opened")
        time.sleep(0.05)
    _log(log, ctx, "done")
