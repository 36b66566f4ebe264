"""Notifications: email (stored in ``email_messages``, sent by the job queue; outbox mode stores only)."""

from __future__ import annotations

from sealpact.notify.email import EmailSummary, Mailer
from sealpact.notify.errors import EmailDeliveryError, EmailNotFound, EmailRejected, InvalidEmail, NotifyError
from sealpact.notify.models import EmailMessage, EmailStatus
from sealpact.notify.transport import EmailTransport, OutgoingEmail, SmtpTransport, build_mime

__all__ = [
    "EmailDeliveryError",
    "EmailMessage",
    "EmailNotFound",
    "EmailRejected",
    "EmailStatus",
    "EmailSummary",
    "EmailTransport",
    "InvalidEmail",
    "Mailer",
    "NotifyError",
    "OutgoingEmail",
    "SmtpTransport",
    "build_mime",
]
