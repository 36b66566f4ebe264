"""The email service: store a message in the caller's transaction, send it through the job queue.

``queue_email`` writes an ``email_messages`` row. In SMTP mode the row is ``queued`` and a
``notify.send_email`` job is enqueued after the commit; in outbox mode (the development default) the
row is ``outbox`` and nothing is sent. The send job claims the row with a short lease so duplicate
jobs (a sweep racing a retry) never send twice, and records attempts, the last error class and the
sent time. A periodic sweep re-enqueues rows left ``queued`` with no job behind them (a crash
between commit and enqueue, a worker killed mid-send).

Logs name messages by id only: addresses, subjects and bodies are personal data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.utils import getaddresses, make_msgid
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from sealpact.clock import Clock
from sealpact.config import EmailMode, Settings
from sealpact.db import transaction
from sealpact.jobs.errors import PermanentJobError
from sealpact.jobs.registry import describe_error
from sealpact.notify.errors import EmailNotFound, EmailRejected, InvalidEmail
from sealpact.notify.models import EmailMessage, EmailStatus
from sealpact.notify.transport import EmailTransport, OutgoingEmail, build_transport

if TYPE_CHECKING:
    from sealpact.jobs import JobContext, JobQueue
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.notify.email")

SEND_TASK = "notify.send_email"
MAX_RECIPIENTS = 50
MAX_SUBJECT_CHARS = 500
MAX_BODY_CHARS = 1_000_000
# A queued message whose planned attempt is this far in the past has no job behind it any more.
STUCK_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class EmailSummary:
    id: str
    created_at: datetime
    recipients: list[str]
    subject: str
    status: str
    attempts: int
    sent_at: datetime | None
    last_error: str | None


class Mailer:
    """Email use cases. Built once per process as ``Runtime.mailer``."""

    def __init__(self, runtime: Runtime, *, transport: EmailTransport | None = None) -> None:
        self._runtime = runtime
        self._settings: Settings = runtime.settings
        self._clock: Clock = runtime.clock
        self._transport = transport
        if self._settings.email_mode is EmailMode.OUTBOX and self._settings.is_production:
            log.warning("email_mode is outbox in production: emails are stored and never sent")

    @property
    def outbox_mode(self) -> bool:
        return self._settings.email_mode is EmailMode.OUTBOX

    @property
    def transport(self) -> EmailTransport:
        if self._transport is None:
            self._transport = build_transport(self._settings)
        return self._transport

    # --- queueing (in the caller's transaction) ----------------------------------------------------

    def queue_email(
        self,
        session: Session,
        to: str | Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        *,
        reply_to: str | None = None,
        tag: str | None = None,
    ) -> EmailMessage:
        """Store a message in ``session``'s transaction; in SMTP mode send it after the commit."""
        recipients = [_address(value, "recipient") for value in ([to] if isinstance(to, str) else list(to))]
        if not recipients:
            raise InvalidEmail("an email needs at least one recipient")
        if len(recipients) > MAX_RECIPIENTS:
            raise InvalidEmail(f"at most {MAX_RECIPIENTS} recipients per message")
        if not subject.strip() or _CONTROL.search(subject) or len(subject) > MAX_SUBJECT_CHARS:
            raise InvalidEmail(f"the subject must be one line of 1-{MAX_SUBJECT_CHARS} characters")
        if not text.strip():
            raise InvalidEmail("the text body is empty")
        if len(text) > MAX_BODY_CHARS or (html is not None and len(html) > MAX_BODY_CHARS):
            raise InvalidEmail("the message body is too large")
        if tag is not None and (len(tag) > 64 or _CONTROL.search(tag)):
            raise InvalidEmail("the tag must be a short single-line label")
        sender = _address(self._settings.mail_from, "sender")
        now = self._clock.now()
        message = EmailMessage(
            created_at=now,
            sender=sender,
            recipients=recipients,
            reply_to=_address(reply_to, "reply-to") if reply_to else None,
            subject=subject,
            text_body=text,
            html_body=html,
            tag=tag,
            message_id=make_msgid(domain=_domain_of(sender)),
            status=EmailStatus.OUTBOX if self.outbox_mode else EmailStatus.QUEUED,
            attempts=0,
            next_attempt_at=None if self.outbox_mode else now,
        )
        session.add(message)
        session.flush()
        if not self.outbox_mode:
            self._queue().enqueue_after_commit(session, SEND_TASK, message_id=message.id)
        return message

    # --- delivery (the job) -----------------------------------------------------------------------

    def deliver(self, ctx: JobContext, message_id: str) -> None:
        """One delivery attempt of a queued message (the body of the ``notify.send_email`` job)."""
        runtime = self._runtime
        outgoing = self._claim(runtime, message_id)
        if outgoing is None:
            return
        try:
            self.transport.send(outgoing)
        except EmailRejected as exc:
            self._record_failure(runtime, message_id, exc, final=True, retry_delay=None)
            raise PermanentJobError("the SMTP server rejected the message") from exc
        except Exception as exc:
            self._record_failure(
                runtime, message_id, exc, final=ctx.is_last_attempt, retry_delay=ctx.next_retry_delay
            )
            raise
        with transaction(runtime.sessions) as session:
            session.execute(
                update(EmailMessage)
                .where(EmailMessage.id == message_id)
                .values(
                    status=EmailStatus.SENT,
                    sent_at=self._clock.now(),
                    locked_until=None,
                    next_attempt_at=None,
                )
            )
        log.info("email %s sent (attempt %d)", message_id, ctx.attempt)

    def _claim(self, runtime: Runtime, message_id: str) -> OutgoingEmail | None:
        """Take the message for one attempt, unless it is no longer queued or another worker holds it."""
        now = self._clock.now()
        lease = timedelta(seconds=max(120.0, 4 * self._settings.smtp_timeout_seconds))
        with transaction(runtime.sessions) as session:
            claimed = session.execute(
                update(EmailMessage)
                .where(
                    EmailMessage.id == message_id,
                    EmailMessage.status == EmailStatus.QUEUED,
                    or_(EmailMessage.locked_until.is_(None), EmailMessage.locked_until < now),
                )
                .values(locked_until=now + lease, attempts=EmailMessage.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                log.info("email %s not sendable now (already handled or held by another worker)", message_id)
                return None
            row = session.get(EmailMessage, message_id)
            assert row is not None
            return OutgoingEmail(
                sender=row.sender,
                recipients=list(row.recipients),
                subject=row.subject,
                text=row.text_body,
                html=row.html_body,
                reply_to=row.reply_to,
                message_id=row.message_id,
                date=row.created_at,
            )

    def _record_failure(
        self,
        runtime: Runtime,
        message_id: str,
        exc: BaseException,
        *,
        final: bool,
        retry_delay: float | None,
    ) -> None:
        now = self._clock.now()
        values: dict[str, object] = {"last_error": describe_error(exc), "locked_until": None}
        if final:
            values.update(status=EmailStatus.FAILED, next_attempt_at=None)
            log.error("email %s failed for good: %s", message_id, values["last_error"])
        else:
            values["next_attempt_at"] = now + timedelta(seconds=retry_delay or 0.0)
        with transaction(runtime.sessions) as session:
            session.execute(update(EmailMessage).where(EmailMessage.id == message_id).values(**values))

    # --- sweep (periodic) -------------------------------------------------------------------------

    def sweep_stuck(self) -> int:
        """Re-enqueue queued messages whose planned attempt is long past (their job was lost).

        Returns how many were enqueued. Safe to run on several workers at once: a duplicate job finds
        the message claimed or sent and does nothing.
        """
        if self.outbox_mode:
            return 0
        runtime = self._runtime
        now = self._clock.now()
        with transaction(runtime.sessions) as session:
            ids = list(
                session.scalars(
                    select(EmailMessage.id)
                    .where(
                        EmailMessage.status == EmailStatus.QUEUED,
                        EmailMessage.next_attempt_at < now - STUCK_AFTER,
                        or_(EmailMessage.locked_until.is_(None), EmailMessage.locked_until < now),
                    )
                    .order_by(EmailMessage.next_attempt_at)
                    .limit(SWEEP_BATCH)
                )
            )
            if ids:
                # Push the planned time forward so the next sweep does not enqueue them again at once.
                session.execute(
                    update(EmailMessage).where(EmailMessage.id.in_(ids)).values(next_attempt_at=now)
                )
        for message_id in ids:
            self._queue().enqueue(SEND_TASK, message_id=message_id)
        if ids:
            log.warning("re-enqueued %d stuck email(s)", len(ids))
        return len(ids)

    # --- reading (CLI, admin) ---------------------------------------------------------------------

    def list_messages(self, *, limit: int = 20, status: str | None = None) -> list[EmailSummary]:
        """Newest first."""
        if not 1 <= limit <= 1000:
            raise InvalidEmail("limit must be between 1 and 1000")
        if status is not None and status not in {s.value for s in EmailStatus}:
            raise InvalidEmail(f"unknown status {status!r}")
        runtime = self._runtime
        with transaction(runtime.sessions) as session:
            query = (
                select(EmailMessage).order_by(EmailMessage.created_at.desc(), EmailMessage.id).limit(limit)
            )
            if status is not None:
                query = query.where(EmailMessage.status == status)
            return [_summary(row) for row in session.scalars(query)]

    def get_message(self, message_id: str) -> EmailMessage:
        runtime = self._runtime
        with transaction(runtime.sessions) as session:
            row = session.get(EmailMessage, message_id)
            if row is None:
                raise EmailNotFound("no stored email with this id")
            session.expunge(row)
            return row

    def _queue(self) -> JobQueue:
        return self._runtime.jobs


def _summary(row: EmailMessage) -> EmailSummary:
    return EmailSummary(
        id=row.id,
        created_at=row.created_at,
        recipients=list(row.recipients),
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )


def _address(value: str, role: str) -> str:
    """One address, display name allowed (``张三 <a@example.cn>``); no header injection, no lists."""
    if not value or _CONTROL.search(value) or len(value) > 320:
        raise InvalidEmail(f"invalid {role} address")
    parsed = getaddresses([value])
    if len(parsed) != 1:
        raise InvalidEmail(f"one {role} address per entry")
    name, addr = parsed[0]
    local, _, domain = addr.rpartition("@")
    if not local or not domain or domain.startswith(".") or domain.endswith(".") or ".." in domain:
        raise InvalidEmail(f"invalid {role} address")
    try:
        return str(Address(display_name=name, addr_spec=addr))
    except (ValueError, IndexError):
        raise InvalidEmail(f"invalid {role} address") from None


def _domain_of(address: str) -> str:
    return getaddresses([address])[0][1].rpartition("@")[2] or "localhost"
