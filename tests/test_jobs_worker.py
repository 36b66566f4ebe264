"""`sealpact worker` as a real subprocess on the embedded (SQLite) queue: jobs survive restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.test_jobs_support  # noqa: F401  (registers the testing.* tasks in this process too)
from sealpact.db import upgrade
from sealpact.runtime import Runtime
from tests.conftest import MASTER_SECRET, make_settings
from tests.test_jobs import wait_until
from tests.test_jobs_support import read_log

REPO = Path(__file__).resolve().parent.parent
SEALPACT = str(Path(sys.executable).with_name("sealpact"))

pytestmark = pytest.mark.slow


class Workers:
    """Starts `sealpact worker` processes and makes sure none outlives the test."""

    def __init__(self, env: dict[str, str], output: Path) -> None:
        self.env = env
        self.output = output
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.output, "ab") as out:
            proc = subprocess.Popen(
                [SEALPACT, "worker", "--workers", "1", "--shutdown-timeout", "0.5"],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM) -> int:
        proc.send_signal(sig)
        return proc.wait(timeout=60)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Runtime, Workers]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    overrides = {
        "database_url": f"sqlite:///{tmp_path / 'app.db'}",
        "jobs_immediate": False,
        "jobs_task_modules": ["tests.test_jobs_support"],
        "jobs_retry_base_seconds": 0.05,
    }
    settings = make_settings(data_dir, **overrides)
    rt = Runtime(settings)
    upgrade(rt.engine)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SEALPACT_DATA_DIR": str(data_dir),
        "SEALPACT_DATABASE_URL": settings.database_url,
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
        "SEALPACT_JOBS_IMMEDIATE": "false",
        "SEALPACT_JOBS_TASK_MODULES": json.dumps(overrides["jobs_task_modules"]),
        "SEALPACT_JOBS_RETRY_BASE_SECONDS": "0.05",
    }
    env.pop("SEALPACT_REDIS_URL", None)
    workers = Workers(env, tmp_path / "worker.out")
    try:
        yield rt, workers
    finally:
        workers.cleanup()
        rt.close()


def test_job_survives_worker_restart_mid_job(setup: tuple[Runtime, Workers], tmp_path: Path) -> None:
    rt, workers = setup
    log, gate = tmp_path / "job.jsonl", tmp_path / "gate"
    # Enqueued while no worker runs: it waits in the SQLite file.
    job_id = rt.jobs.enqueue("testing.gated", log=str(log), gate=str(gate))
    assert rt.jobs.pending_names() == ["testing.gated"]

    first = workers.start()
    wait_until(lambda: [r["event"] for r in read_log(log)] == ["start"])
    assert "testing.gated" not in rt.jobs.pending_names()  # taken by the worker
    # SIGTERM mid-job: the worker waits --shutdown-timeout for it, then puts it back and exits.
    assert workers.stop(first) == 0
    assert "testing.gated" in rt.jobs.pending_names()

    second = workers.start()
    wait_until(lambda: [r["event"] for r in read_log(log)] == ["start", "start"])
    gate.touch()
    wait_until(lambda: read_log(log)[-1]["event"] == "done")
    assert workers.stop(second) == 0

    records = read_log(log)
    assert [r["event"] for r in records] == ["start", "start", "done"]
    assert {r["job"] for r in records} == {job_id}
    assert records[0]["pid"] == first.pid and records[2]["pid"] == second.pid
    assert "testing.gated" not in rt.jobs.pending_names()
    output = (tmp_path / "worker.out").read_text()
    assert "interrupted by shutdown; put back on the queue" in output


def test_worker_retries_and_stops_cleanly_on_sigint(setup: tuple[Runtime, Workers], tmp_path: Path) -> None:
    rt, workers = setup
    log = tmp_path / "job.jsonl"
    proc = workers.start()
    rt.jobs.enqueue("testing.flaky", log=str(log), fail_times=1)
    wait_until(lambda: any(r["event"] == "ok" for r in read_log(log)))
    assert [(r["attempt"], r["event"]) for r in read_log(log)] == [(1, "fail"), (2, "ok")]
    assert workers.stop(proc, signal.SIGINT) == 0
    assert "hunter2" not in (tmp_path / "worker.out").read_text()


def test_worker_refuses_immediate_mode(setup: tuple[Runtime, Workers]) -> None:
    _, workers = setup
    env = {**workers.env, "SEALPACT_JOBS_IMMEDIATE": "true"}
    result = subprocess.run([SEALPACT, "worker"], env=env, cwd=REPO, capture_output=True, timeout=60)
    assert result.returncode == 1
    assert b"[queue_not_configured]" in result.stderr


def _serve(workers: Workers, *extra: str) -> subprocess.Popen[bytes]:
    from tests.smtp import free_port

    with open(workers.output, "ab") as out:
        proc = subprocess.Popen(
            [SEALPACT, "serve", "--port", str(free_port()), *extra],
            env=workers.env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    workers.procs.append(proc)
    return proc


def test_serve_runs_an_in_process_worker_and_stops_it(setup: tuple[Runtime, Workers], tmp_path: Path) -> None:
    rt, workers = setup
    log = tmp_path / "job.jsonl"
    rt.jobs.enqueue("testing.record", log=str(log), value="from-serve")
    server = _serve(workers)
    wait_until(lambda: len(read_log(log)) == 1, timeout=60)
    assert read_log(log)[0]["pid"] == server.pid  # run inside the web server process
    wait_until(lambda: "Application startup complete" in (tmp_path / "worker.out").read_text(), timeout=60)
    assert workers.stop(server) == 0
    assert "in-process job worker stopped" in (tmp_path / "worker.out").read_text()


def test_serve_without_worker_leaves_jobs_queued(setup: tuple[Runtime, Workers], tmp_path: Path) -> None:
    rt, workers = setup
    log = tmp_path / "job.jsonl"
    rt.jobs.enqueue("testing.record", log=str(log), value="later")
    server = _serve(workers, "--no-worker")
    wait_until(lambda: "Application startup complete" in (tmp_path / "worker.out").read_text(), timeout=60)
    # Without a worker, serve exits as plain uvicorn does: by re-raising SIGTERM after shutdown.
    assert workers.stop(server) in (0, -signal.SIGTERM)
    assert read_log(log) == []
    assert rt.jobs.pending_names() == ["testing.record"]
