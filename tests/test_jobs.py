"""The job queue on its embedded backend (Huey on SQLite) and in immediate mode.

Workers here are real Huey consumers running in threads of the test process (EmbeddedWorker, as in
`sealpact serve`); tests/test_jobs_worker.py runs `sealpact worker` as a subprocess.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

import tests.test_jobs_support  # noqa: F401  (registers the testing.* tasks)
from sealpact.db import transaction, upgrade
from sealpact.jobs import InvalidJobArguments, UnknownTask
from sealpact.jobs.backoff import backoff_delay
from sealpact.jobs.models import JobFailure
from sealpact.jobs.worker import EmbeddedWorker
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider
from tests.conftest import MASTER_SECRET, make_settings
from tests.test_jobs_support import read_log

SUPPORT = ["tests.test_jobs_support"]


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def queued_runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    """A migrated runtime whose jobs go through the real SQLite-backed Huey queue."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = make_settings(
        data_dir,
        database_url=database_url,
        jobs_immediate=False,
        jobs_task_modules=SUPPORT,
        jobs_max_retries=3,
        jobs_retry_base_seconds=0.05,
        jobs_workers=2,
    )
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    rt = Runtime(settings)
    upgrade(rt.engine)
    try:
        yield rt
    finally:
        rt.close()


# --- backoff (pure) ------------------------------------------------------------------------------


@given(attempt=st.integers(1, 80), base=st.floats(0.001, 60), seed=st.integers(0, 2**32))
def test_backoff_is_exponential_with_bounded_jitter(attempt: int, base: float, seed: int) -> None:
    delay = backoff_delay(attempt, base, random.Random(seed))
    exponential = min(3600.0, base * 2 ** (attempt - 1))
    assert exponential / 2 <= delay <= exponential


def test_backoff_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    delays = {round(backoff_delay(5, 2.0, rng), 6) for _ in range(50)}
    assert len(delays) > 40  # not in lock step
    assert all(16.0 <= d <= 32.0 for d in delays)


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0, 1.0, random.Random(1))


# --- enqueueing only after commit ----------------------------------------------------------------


def test_job_enqueued_only_after_commit(queued_runtime: Runtime, tmp_path: Path) -> None:
    jobs = queued_runtime.jobs
    log = tmp_path / "log.jsonl"
    with transaction(queued_runtime.sessions) as session:
        jobs.enqueue_after_commit(session, "testing.record", log=str(log), value="a")
        assert jobs.pending_count() == 0  # not before the commit
    assert jobs.pending_count() == 1
    with EmbeddedWorker(jobs, workers=1):
        wait_until(lambda: len(read_log(log)) == 1)
    assert read_log(log)[0]["event"] == "ran:a"
    assert "testing.record" not in jobs.pending_names()  # (a periodic sweep may be waiting)


def test_job_dropped_on_rollback(queued_runtime: Runtime, tmp_path: Path) -> None:
    jobs = queued_runtime.jobs
    log = tmp_path / "log.jsonl"
    with pytest.raises(RuntimeError), transaction(queued_runtime.sessions) as session:
        jobs.enqueue_after_commit(session, "testing.record", log=str(log), value="never")
        raise RuntimeError("the use case failed")
    # An explicit rollback followed by a commit in the same session must not resurrect the job.
    session = queued_runtime.sessions()
    try:
        jobs.enqueue_after_commit(session, "testing.record", log=str(log), value="never")
        session.rollback()
        session.commit()
    finally:
        session.close()
    assert jobs.pending_count() == 0
    assert jobs.scheduled_count() == 0


def test_bad_enqueue_fails_inside_the_transaction(queued_runtime: Runtime) -> None:
    jobs = queued_runtime.jobs
    with transaction(queued_runtime.sessions) as session:
        with pytest.raises(UnknownTask) as unknown:
            jobs.enqueue_after_commit(session, "testing.no_such_task")
        assert unknown.value.code == "unknown_task"
        with pytest.raises(InvalidJobArguments):
            jobs.enqueue_after_commit(session, "testing.record", log=object(), value="x")
        with pytest.raises(InvalidJobArguments):
            jobs.enqueue_after_commit(session, "testing.record", _attempt=3, log="x", value="x")
        with pytest.raises(InvalidJobArguments):
            jobs.enqueue_after_commit(session, "notify.sweep_email")  # periodic: workers schedule it
    assert jobs.pending_count() == 0


# --- retries -------------------------------------------------------------------------------------


def test_failed_job_is_retried_with_backoff(
    queued_runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    jobs = queued_runtime.jobs
    log = tmp_path / "log.jsonl"
    jobs.enqueue("testing.flaky", log=str(log), fail_times=2)
    with EmbeddedWorker(jobs, workers=1):
        wait_until(lambda: any(r["event"] == "ok" for r in read_log(log)))
    records = read_log(log)
    assert [(r["attempt"], r["event"]) for r in records] == [(1, "fail"), (2, "fail"), (3, "ok")]
    assert len({r["job"] for r in records}) == 1  # one job, three attempts
    retry_lines = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retry_lines) == 2
    assert all("ConnectionError" in line for line in retry_lines)
    assert "hunter2" not in caplog.text  # exception text (may hold secrets) is never logged
    with transaction(queued_runtime.sessions) as session:
        assert session.scalars(select(JobFailure)).all() == []


def test_job_failing_every_attempt_is_recorded_once(
    queued_runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = queued_runtime.jobs
    log = tmp_path / "log.jsonl"
    job_id = jobs.enqueue("testing.flaky", log=str(log), fail_times=100)
    with EmbeddedWorker(jobs, workers=1):
        wait_until(lambda: _failures(queued_runtime) != [])
    assert [r["attempt"] for r in read_log(log)] == [1, 2, 3, 4]  # jobs_max_retries=3
    [failure] = _failures(queued_runtime)
    assert (failure.job_id, failure.task_name, failure.attempts) == (job_id, "testing.flaky", 4)
    assert failure.error == "ConnectionError"
    assert not failure.permanent
    assert "hunter2" not in caplog.text


def test_permanent_error_is_not_retried(queued_runtime: Runtime, tmp_path: Path) -> None:
    jobs = queued_runtime.jobs
    log = tmp_path / "log.jsonl"
    jobs.enqueue("testing.permanent", log=str(log))
    with EmbeddedWorker(jobs, workers=1):
        wait_until(lambda: _failures(queued_runtime) != [])
    assert [r["attempt"] for r in read_log(log)] == [1]
    [failure] = _failures(queued_runtime)
    assert failure.permanent and failure.attempts == 1
    assert failure.error == "sealpact.jobs.errors.PermanentJobError[permanent_job_failure]"
    assert jobs.scheduled_count() == 0


def _failures(runtime: Runtime) -> list[JobFailure]:
    with transaction(runtime.sessions) as session:
        rows = list(session.scalars(select(JobFailure)))
        session.expunge_all()
        return rows


# --- immediate mode (what the rest of the suite uses) --------------------------------------------


@pytest.fixture
def immediate_runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = make_settings(
        tmp_path,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        jobs_task_modules=SUPPORT,
        jobs_max_retries=2,
    )
    assert settings.jobs_immediate
    rt = Runtime(settings)
    upgrade(rt.engine)
    try:
        yield rt
    finally:
        rt.close()


def test_immediate_mode_runs_after_commit_not_before(immediate_runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    with transaction(immediate_runtime.sessions) as session:
        immediate_runtime.jobs.enqueue_after_commit(session, "testing.record", log=str(log), value="x")
        assert read_log(log) == []
    assert [r["event"] for r in read_log(log)] == ["ran:x"]
    assert immediate_runtime.jobs.huey is None
    assert not immediate_runtime.settings.huey_sqlite_path.exists()  # nothing persisted


def test_immediate_mode_drops_on_rollback(immediate_runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    with pytest.raises(RuntimeError), transaction(immediate_runtime.sessions) as session:
        immediate_runtime.jobs.enqueue_after_commit(session, "testing.record", log=str(log), value="x")
        raise RuntimeError("rolled back")
    assert read_log(log) == []


def test_immediate_mode_retries_inline_and_never_raises_into_the_caller(
    immediate_runtime: Runtime, tmp_path: Path
) -> None:
    log = tmp_path / "log.jsonl"
    with transaction(immediate_runtime.sessions) as session:
        immediate_runtime.jobs.enqueue_after_commit(session, "testing.flaky", log=str(log), fail_times=1)
    assert [(r["attempt"], r["event"]) for r in read_log(log)] == [(1, "fail"), (2, "ok")]
    log.unlink()
    with transaction(immediate_runtime.sessions) as session:  # commit succeeds although the job fails
        immediate_runtime.jobs.enqueue_after_commit(session, "testing.flaky", log=str(log), fail_times=9)
    assert [r["attempt"] for r in read_log(log)] == [1, 2, 3]
    assert len(_failures(immediate_runtime)) == 1


# --- health and CLI ------------------------------------------------------------------------------


def test_queue_health_check(queued_runtime: Runtime) -> None:
    checks = queued_runtime.health_checks()
    checks["jobs"]()  # the SQLite queue file is usable


def test_jobs_cli_status_and_failures(
    queued_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from sealpact.cli.main import cli

    jobs = queued_runtime.jobs
    jobs.enqueue("testing.permanent", log=str(tmp_path / "log.jsonl"))
    settings = queued_runtime.settings
    monkeypatch.setenv("SEALPACT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SEALPACT_DATABASE_URL", settings.database_url)
    runner = CliRunner()

    status = runner.invoke(cli, ["jobs", "status"], obj={})
    assert status.exit_code == 0, status.output
    assert "backend:   sqlite" in status.output and "pending:   1" in status.output
    assert runner.invoke(cli, ["jobs", "failures"], obj={}).output.strip() == "no failed jobs"

    with EmbeddedWorker(jobs, workers=1):
        wait_until(lambda: _failures(queued_runtime) != [])
    failures = runner.invoke(cli, ["jobs", "failures"], obj={})
    assert failures.exit_code == 0, failures.output
    assert "testing.permanent" in failures.output and "permanent" in failures.output
