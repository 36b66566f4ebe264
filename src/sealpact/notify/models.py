"""Tables of the notify domain: stored email messages (the outbox and the send queue in one)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime, new_id


class EmailStatus(StrEnum):
    QUEUED = "queued"  # waiting for (or between) delivery attempts
    SENT = "sent"  # accepted by the SMTP server
    FAILED = "failed"  # permanently rejected, or retries exhausted
    OUTBOX = "outbox"  # outbox mode: stored only, never sent


class EmailMessage(Base):
    __tablename__ = "email_messages"
    __table_args__ = (
        Index("ix_email_messages_created_at", "created_at"),
        Index("ix_email_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    reply_to: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[str | None] = mapped_column(String(64))  # what the mail is for, e.g. "contracts.invite"
    message_id: Mapped[str] = mapped_column(String(250))  # RFC 5322 Message-ID, fixed at queue time
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))  # error class only, never server text
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A worker holds the message while it talks to the server, so duplicate jobs never send twice.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
