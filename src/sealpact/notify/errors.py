"""Errors of the notify domain."""

from __future__ import annotations

from sealpact.errors import InvalidInput, NotFound, SealpactError


class NotifyError(SealpactError):
    code = "notify_error"


class InvalidEmail(NotifyError, InvalidInput):
    """A recipient, subject or body that cannot go into an email (bad address, header injection, size)."""

    code = "invalid_email"


class EmailNotFound(NotifyError, NotFound):
    code = "email_not_found"


class EmailDeliveryError(NotifyError):
    """The SMTP server could not be used right now (down, 4xx, auth): worth retrying."""

    code = "email_delivery_failed"
    http_status = 502


class EmailRejected(NotifyError):
    """The SMTP server refused the message for good (5xx on recipients or data): not retried."""

    code = "email_rejected"
    http_status = 502
