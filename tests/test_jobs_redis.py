"""The same tasks on the Redis backend (settings.redis_url), against the real Redis server.

Each test uses its own queue name, so parallel or repeated runs never see each other's jobs, and
deletes its keys afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

import tests.test_jobs_support  # noqa: F401  (registers the testing.* tasks)
from sealpact.db import transaction, upgrade
from sealpact.jobs.worker import EmbeddedWorker, backend_name
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.services import REDIS_URL, require
from tests.smtp import SmtpServer, smtp_server
from tests.test_jobs import wait_until
from tests.test_jobs_support import read_log

pytestmark = pytest.mark.redis


@pytest.fixture
def queue_name() -> Iterator[str]:
    parsed = urlparse(REDIS_URL)
    require("Redis", parsed.hostname or "127.0.0.1", parsed.port or 6379)
    name = "sealpact_test_" + secrets.token_hex(6)
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"huey.*{name}*"))
        if keys:
            client.delete(*keys)
        assert not list(client.scan_iter(match=f"huey.*{name}*"))
    finally:
        client.close()


@pytest.fixture
def make_runtime(tmp_path: Path, database_url: str, queue_name: str) -> Iterator[Callable[..., Runtime]]:
    runtimes: list[Runtime] = []

    def build(**overrides: Any) -> Runtime:
        data_dir = tmp_path / f"data{len(runtimes)}"
        data_dir.mkdir()
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": REDIS_URL,
            "jobs_queue_name": queue_name,
            "jobs_immediate": False,
            "jobs_task_modules": ["tests.test_jobs_support"],
            "jobs_retry_base_seconds": 0.05,
            **overrides,
        }
        rt = Runtime(make_settings(data_dir, **values))
        if not runtimes:
            upgrade(rt.engine)
        runtimes.append(rt)
        return rt

    yield build
    for rt in runtimes:
        rt.close()


def test_redis_job_enqueued_after_commit_and_survives_a_restart(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    log = tmp_path / "log.jsonl"
    producer = make_runtime()
    assert backend_name(producer.jobs) == "redis"
    with pytest.raises(RuntimeError), transaction(producer.sessions) as session:
        producer.jobs.enqueue_after_commit(session, "testing.record", log=str(log), value="rolled-back")
        raise RuntimeError("rollback")
    with transaction(producer.sessions) as session:
        producer.jobs.enqueue_after_commit(session, "testing.record", log=str(log), value="committed")
        assert producer.jobs.pending_count() == 0
    assert producer.jobs.pending_count() == 1
    producer.close()

    # Another process (a fresh runtime and queue) finds the job in Redis and runs it.
    consumer = make_runtime()
    assert consumer.jobs.pending_count() == 1
    assert not consumer.settings.huey_sqlite_path.exists()  # Redis, not the SQLite file
    with EmbeddedWorker(consumer.jobs, workers=1):
        wait_until(lambda: len(read_log(log)) == 1)
    assert read_log(log)[0]["event"] == "ran:committed"


def test_redis_retry_is_scheduled_with_backoff(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    rt = make_runtime()
    rt.jobs.enqueue("testing.flaky", log=str(log), fail_times=2)
    with EmbeddedWorker(rt.jobs, workers=2):
        wait_until(lambda: any(r["event"] == "ok" for r in read_log(log)))
    assert [(r["attempt"], r["event"]) for r in read_log(log)] == [(1, "fail"), (2, "fail"), (3, "ok")]
    assert rt.jobs.scheduled_count() == 0


def test_redis_email_delivery(make_runtime: Callable[..., Runtime]) -> None:
    server: SmtpServer
    with smtp_server() as server:
        rt = make_runtime(email_mode="smtp", smtp_host=server.host, smtp_port=server.port)
        with transaction(rt.sessions) as session:
            message = rt.mailer.queue_email(
                session, "王五 <wangwu@example.cn>", "签署完成", "合同已签署完成。"
            )
        with EmbeddedWorker(rt.jobs, workers=1):
            [received] = server.handler.wait_for(1)
            wait_until(lambda: rt.mailer.get_message(message.id).status == "sent")
    assert received.message["Subject"] == "签署完成"
    assert received.rcpt_tos == ["wangwu@example.cn"]


def test_unreachable_redis_fails_the_health_check(make_runtime: Callable[..., Runtime]) -> None:
    from tests.smtp import free_port

    rt = make_runtime(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(redis.ConnectionError):
        rt.jobs.check()
