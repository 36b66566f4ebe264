"""Email: stored in the caller's transaction, sent through the job queue to a real SMTP server.

The SMTP server is aiosmtpd on a free loopback port (tests/smtp.py); database tests run on SQLite and
PostgreSQL. Some tests use immediate mode (as the rest of the suite does), others the real
SQLite-backed queue with worker threads (EmbeddedWorker, as `sealpact serve` runs it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sealpact.cli.main import cli
from sealpact.clock import FrozenClock
from sealpact.db import transaction, upgrade
from sealpact.jobs.models import JobFailure
from sealpact.jobs.worker import EmbeddedWorker
from sealpact.notify import EmailMessage, InvalidEmail, OutgoingEmail, build_mime
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.smtp import SmtpServer, free_port, smtp_server
from tests.test_jobs import wait_until

SUBJECT = "合同签署邀请：《房屋租赁合同》"
TEXT = "张三您好，\n\n请点击链接签署合同。签署后即具有法律效力。\n"
HTML = "<p>张三您好，</p><p>请<a href='https://example.cn/s/1'>签署合同</a>。</p>"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def make_runtime(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Runtime]]:
    runtimes: list[Runtime] = []

    def build(clock: FrozenClock | None = None, **overrides: Any) -> Runtime:
        data_dir = tmp_path / f"data{len(runtimes)}"
        data_dir.mkdir()
        settings = make_settings(data_dir, database_url=database_url, **overrides)
        rt = Runtime(settings, clock=clock)
        if not runtimes:
            upgrade(rt.engine)
        runtimes.append(rt)
        return rt

    yield build
    for rt in runtimes:
        rt.close()


def smtp_settings(server: SmtpServer, **extra: Any) -> dict[str, Any]:
    return {"email_mode": "smtp", "smtp_host": server.host, "smtp_port": server.port, **extra}


def queue(rt: Runtime, to: str | list[str] = "张三 <zhangsan@example.cn>", **kwargs: Any) -> str:
    with transaction(rt.sessions) as session:
        message = rt.mailer.queue_email(session, to, SUBJECT, TEXT, HTML, **kwargs)
        return message.id


def stored(rt: Runtime, message_id: str) -> EmailMessage:
    return rt.mailer.get_message(message_id)


# --- SMTP delivery -------------------------------------------------------------------------------


def test_smtp_delivery_keeps_chinese_and_multipart(
    make_runtime: Callable[..., Runtime], smtp: SmtpServer
) -> None:
    rt = make_runtime(**smtp_settings(smtp, mail_from="签约平台 <no-reply@sealpact.example>"))
    message_id = queue(rt, ["张三 <zhangsan@example.cn>", "lisi@example.cn"], reply_to="legal@example.cn")

    [received] = smtp.handler.wait_for(1)
    assert received.mail_from == "no-reply@sealpact.example"
    assert sorted(received.rcpt_tos) == ["lisi@example.cn", "zhangsan@example.cn"]
    assert received.raw.isascii()  # encoded for any 7-bit relay, decoded below
    mime = received.message
    assert mime["Subject"] == SUBJECT
    assert mime["From"] == "签约平台 <no-reply@sealpact.example>"
    assert mime["To"] == "张三 <zhangsan@example.cn>, lisi@example.cn"
    assert mime["Reply-To"] == "legal@example.cn"
    assert mime.get_content_type() == "multipart/alternative"
    plain = mime.get_body(("plain",))
    html = mime.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == "utf-8"
    # Text is carried in canonical CRLF form (RFC 2045 section 6.8).
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().strip() == HTML

    row = stored(rt, message_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None
    assert mime["Message-ID"] == row.message_id


def test_text_only_message_is_not_multipart() -> None:
    mime = build_mime(
        OutgoingEmail(
            sender="a@example.cn",
            recipients=["b@example.cn"],
            subject="通知",
            text="正文",
            message_id="<1@example.cn>",
            date=datetime(2026, 1, 2, tzinfo=UTC),
        )
    )
    assert mime.get_content_type() == "text/plain"
    assert mime["Date"] == "Fri, 02 Jan 2026 00:00:00 +0000"


def test_smtp_delivery_through_the_real_queue(make_runtime: Callable[..., Runtime], smtp: SmtpServer) -> None:
    rt = make_runtime(**smtp_settings(smtp), jobs_immediate=False)
    message_id = queue(rt)
    assert smtp.handler.received == []
    assert rt.jobs.pending_count() == 1
    assert stored(rt, message_id).status == "queued"
    with EmbeddedWorker(rt.jobs, workers=1):
        smtp.handler.wait_for(1)
        wait_until(lambda: stored(rt, message_id).status == "sent")
    assert stored(rt, message_id).attempts == 1


def test_smtp_down_is_retried_then_marked_failed(
    make_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    closed_port = free_port()  # nothing listens here
    rt = make_runtime(
        email_mode="smtp",
        smtp_port=closed_port,
        smtp_password="smtp-secret-pw",
        jobs_immediate=False,
        jobs_max_retries=2,
        jobs_retry_base_seconds=0.05,
    )
    message_id = queue(rt)
    with EmbeddedWorker(rt.jobs, workers=1):
        wait_until(lambda: stored(rt, message_id).status == "failed")
    row = stored(rt, message_id)
    assert row.attempts == 3
    assert row.last_error is not None
    assert "EmailDeliveryError" in row.last_error and "ConnectionRefusedError" in row.last_error
    assert row.sent_at is None
    with transaction(rt.sessions) as session:
        [failure] = session.scalars(select(JobFailure)).all()
        assert (failure.task_name, failure.attempts, failure.permanent) == ("notify.send_email", 3, False)
    # Logs name the message by id; no address, subject or secret.
    assert message_id in caplog.text
    for private in ("zhangsan@example.cn", "张三", SUBJECT, "smtp-secret-pw"):
        assert private not in caplog.text


def test_smtp_rejection_is_final_without_retry(
    make_runtime: Callable[..., Runtime], smtp: SmtpServer
) -> None:
    smtp.handler.reject_with = "554 5.7.1 Message rejected"
    rt = make_runtime(**smtp_settings(smtp), jobs_immediate=False, jobs_retry_base_seconds=0.05)
    message_id = queue(rt)
    with EmbeddedWorker(rt.jobs, workers=1):
        wait_until(lambda: stored(rt, message_id).status == "failed")
    row = stored(rt, message_id)
    assert row.attempts == 1
    assert row.last_error is not None and "EmailRejected" in row.last_error
    assert rt.jobs.scheduled_count() == 0


def test_a_duplicate_job_does_not_send_twice(make_runtime: Callable[..., Runtime], smtp: SmtpServer) -> None:
    rt = make_runtime(**smtp_settings(smtp), jobs_immediate=False)
    message_id = queue(rt)
    rt.jobs.enqueue("notify.send_email", message_id=message_id)  # e.g. a sweep racing the first job
    with EmbeddedWorker(rt.jobs, workers=2):
        smtp.handler.wait_for(1)
        wait_until(lambda: "notify.send_email" not in rt.jobs.pending_names())
        wait_until(lambda: stored(rt, message_id).status == "sent")
    assert len(smtp.handler.received) == 1
    assert stored(rt, message_id).attempts == 1


# --- after commit, never on rollback -------------------------------------------------------------


def test_email_is_enqueued_only_after_commit(make_runtime: Callable[..., Runtime], smtp: SmtpServer) -> None:
    rt = make_runtime(**smtp_settings(smtp), jobs_immediate=False)
    with transaction(rt.sessions) as session:
        rt.mailer.queue_email(session, "a@example.cn", SUBJECT, TEXT)
        assert rt.jobs.pending_count() == 0
    assert rt.jobs.pending_count() == 1


def test_email_rolled_back_is_neither_stored_nor_sent(
    make_runtime: Callable[..., Runtime], smtp: SmtpServer
) -> None:
    rt = make_runtime(**smtp_settings(smtp))  # immediate: would send at once after a commit
    with pytest.raises(RuntimeError), transaction(rt.sessions) as session:
        rt.mailer.queue_email(session, "a@example.cn", SUBJECT, TEXT)
        raise RuntimeError("the contract could not be sent")
    assert rt.mailer.list_messages() == []
    assert smtp.handler.received == []
    queue(rt)  # the same call committed does send
    smtp.handler.wait_for(1)


# --- outbox mode ---------------------------------------------------------------------------------


def test_outbox_mode_stores_and_never_sends(make_runtime: Callable[..., Runtime], smtp: SmtpServer) -> None:
    rt = make_runtime(smtp_host=smtp.host, smtp_port=smtp.port, jobs_immediate=False)
    assert rt.settings.email_mode == "outbox"  # the default
    message_id = queue(rt)
    row = stored(rt, message_id)
    assert (row.status, row.attempts, row.subject, row.text_body) == ("outbox", 0, SUBJECT, TEXT)
    assert rt.jobs.pending_count() == 0
    assert rt.mailer.sweep_stuck() == 0
    assert smtp.handler.received == []


def test_outbox_cli_lists_and_shows(
    make_runtime: Callable[..., Runtime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = make_runtime()
    first = queue(rt, "wangwu@example.cn")
    second = queue(rt, "zhaoliu@example.cn")
    monkeypatch.setenv("SEALPACT_DATABASE_URL", rt.settings.database_url)
    monkeypatch.setenv("SEALPACT_DATA_DIR", str(rt.settings.data_dir))
    runner = CliRunner()

    listing = runner.invoke(cli, ["outbox", "--limit", "5"], obj={})
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert len(lines) == 2
    assert {first, second} == {line.split()[0] for line in lines}
    assert all("outbox" in line and SUBJECT in line for line in lines)
    assert runner.invoke(cli, ["outbox", "--limit", "1"], obj={}).output.count("\n") == 1

    shown = runner.invoke(cli, ["outbox", "--show", first], obj={})
    assert shown.exit_code == 0, shown.output
    assert "wangwu@example.cn" in shown.output and TEXT.strip() in shown.output and HTML in shown.output

    missing = runner.invoke(cli, ["outbox", "--show", "no-such-id"], obj={})
    assert missing.exit_code == 1
    assert "[email_not_found]" in missing.output


# --- the sweep -----------------------------------------------------------------------------------


def test_sweep_requeues_a_message_whose_job_was_lost(
    make_runtime: Callable[..., Runtime], smtp: SmtpServer
) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    rt = make_runtime(clock, **smtp_settings(smtp), jobs_immediate=False)
    message_id = queue(rt)
    rt.jobs.huey.flush()  # the crash between commit and enqueue: the row is queued, no job exists
    assert rt.jobs.pending_count() == 0

    clock.advance(minutes=1)
    assert rt.mailer.sweep_stuck() == 0  # recent: its job may still be on the way
    clock.advance(minutes=5)
    assert rt.mailer.sweep_stuck() == 1
    assert rt.jobs.pending_count() == 1
    assert rt.mailer.sweep_stuck() == 0  # not enqueued again by the next sweep

    with EmbeddedWorker(rt.jobs, workers=1):
        smtp.handler.wait_for(1)
        wait_until(lambda: stored(rt, message_id).status == "sent")


def test_sweep_skips_a_message_held_by_a_worker(
    make_runtime: Callable[..., Runtime], smtp: SmtpServer
) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    rt = make_runtime(clock, **smtp_settings(smtp), jobs_immediate=False)
    message_id = queue(rt)
    rt.jobs.huey.flush()
    with transaction(rt.sessions) as session:
        row = session.get(EmailMessage, message_id)
        assert row is not None
        row.locked_until = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)  # a worker is talking to the server
    clock.advance(minutes=30)
    assert rt.mailer.sweep_stuck() == 0
    clock.advance(minutes=31)  # the lease ran out: that worker died
    assert rt.mailer.sweep_stuck() == 1


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "subject", "text"),
    [
        ("not-an-address", SUBJECT, TEXT),
        ("a@example.cn, b@example.cn", SUBJECT, TEXT),  # a list smuggled into one entry
        ("a@example.cn\r\nBcc: c@example.cn", SUBJECT, TEXT),
        ([], SUBJECT, TEXT),
        ("a@example.cn", "Hello\r\nBcc: c@example.cn", TEXT),
        ("a@example.cn", "  ", TEXT),
        ("a@example.cn", SUBJECT, ""),
        ("a@example.cn", "x" * 501, TEXT),
    ],
)
def test_bad_messages_are_refused(
    make_runtime: Callable[..., Runtime], to: str | list[str], subject: str, text: str
) -> None:
    rt = make_runtime()
    with transaction(rt.sessions) as session:
        with pytest.raises(InvalidEmail) as error:
            rt.mailer.queue_email(session, to, subject, text)
        assert error.value.code == "invalid_email"
