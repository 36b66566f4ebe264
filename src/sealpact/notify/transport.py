"""Email transports: the SMTP client behind a Protocol, and the MIME message builder.

``notify.email`` decides *whether* to send (outbox mode stores only); a transport only delivers.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage as MimeMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, getaddresses
from typing import Protocol

from sealpact.config import Settings
from sealpact.notify.errors import EmailDeliveryError, EmailRejected


@dataclass(frozen=True)
class OutgoingEmail:
    """One message as the transport sees it (built from an ``email_messages`` row)."""

    sender: str
    recipients: Sequence[str]
    subject: str
    text: str
    message_id: str
    date: datetime
    html: str | None = None
    reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class EmailTransport(Protocol):
    def send(self, message: OutgoingEmail) -> None:
        """Deliver ``message``.

        Raises :class:`EmailDeliveryError` (worth a retry) or :class:`EmailRejected` (final).
        """
        ...


def build_mime(message: OutgoingEmail) -> MimeMessage:
    """RFC 5322 message: text/plain, or multipart/alternative with text and HTML; UTF-8 throughout.

    The SMTP policy folds long lines with CRLF; non-ASCII subjects and names become RFC 2047
    encoded-words and bodies UTF-8 in quoted-printable or base64, so Chinese survives any relay.
    """
    # 7-bit transfer encodings: no reliance on the relay's 8BITMIME.
    mime = MimeMessage(policy=SMTP_POLICY.clone(cte_type="7bit"))
    mime["From"] = message.sender
    mime["To"] = ", ".join(message.recipients)
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(message.date)
    mime["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


class SmtpTransport:
    """Delivery through an SMTP server (smtplib), with STARTTLS or implicit TLS and optional AUTH."""

    def __init__(self, settings: Settings) -> None:
        if settings.smtp_ssl and settings.smtp_starttls:
            from sealpact.errors import ConfigurationError

            raise ConfigurationError("choose either smtp_ssl (implicit TLS) or smtp_starttls, not both")
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._starttls = settings.smtp_starttls
        self._ssl = settings.smtp_ssl
        self._timeout = settings.smtp_timeout_seconds

    def send(self, message: OutgoingEmail) -> None:
        mime = build_mime(message)
        try:
            with self._connect() as client:
                if self._starttls:
                    client.starttls(context=ssl.create_default_context())
                if self._username:
                    password = self._password.get_secret_value() if self._password else ""
                    client.login(self._username, password)
                # Recipients refused while others were accepted are not retried: a resend would
                # duplicate the message for everyone who got it.
                # The envelope takes bare addresses: display names there would make smtplib switch
                # to SMTPUTF8 and send raw UTF-8 headers instead of the RFC 2047 encoded ones.
                client.send_message(
                    mime,
                    from_addr=_addr_spec(message.sender),
                    to_addrs=[_addr_spec(r) for r in message.recipients],
                )
        except smtplib.SMTPRecipientsRefused as exc:
            raise EmailRejected("the SMTP server refused every recipient") from exc
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            if 500 <= exc.smtp_code < 600:
                raise EmailRejected(f"the SMTP server rejected the message ({exc.smtp_code})") from exc
            raise EmailDeliveryError(f"the SMTP server deferred the message ({exc.smtp_code})") from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Connection refused/reset, timeouts, TLS errors, 4xx, authentication: an operator can
            # fix these, so the message waits for the retries instead of failing now.
            raise EmailDeliveryError(f"the SMTP server is not usable ({type(exc).__name__})") from exc

    def _connect(self) -> smtplib.SMTP:
        if self._ssl:
            return smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self._host, self._port, timeout=self._timeout)


def _addr_spec(address: str) -> str:
    return getaddresses([address])[0][1]


def build_transport(settings: Settings) -> EmailTransport:
    return SmtpTransport(settings)
