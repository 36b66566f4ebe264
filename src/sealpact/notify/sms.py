"""SMS: a gateway Protocol, the outbox (sandbox) mode and a Tencent Cloud SMS adapter, sent by the job queue.

``SmsService.queue_sms`` stores an ``sms_messages`` row in the caller's transaction. In ``outbox`` mode
(the development default; the sandbox) the row is only stored, and announced as such; in ``tencent``
mode it is ``queued`` and a ``notify.send_sms`` job is enqueued after the commit, which claims the row
(so duplicate jobs never send twice), calls the gateway and records the outcome. Transient gateway
failures are retried by the job queue with backoff; permanent refusals are not.

The Tencent Cloud adapter follows the public API 3.0 documentation for ``SendSms`` (service ``sms``,
version ``2021-01-11``, TC3-HMAC-SHA256 signing). It is tested against a loopback fake of that wire
format only, never against the real service. Messages in mainland China must use approved templates:
each purpose maps to a TemplateId in ``settings.sms_tencent_template_ids`` and the message's
parameters fill it in order.

Logs name messages by id only: numbers and texts are personal data (a code in a text is a secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import JSON, Index, Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from sealpact.db import Base, UTCDateTime, new_id, transaction
from sealpact.errors import ConfigurationError, InvalidInput
from sealpact.jobs import JobContext, PermanentJobError, task
from sealpact.jobs.registry import describe_error
from sealpact.notify.errors import NotifyError

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.notify.sms")

SEND_SMS_TASK = "notify.send_sms"
MAX_TEXT_CHARS = 500
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


class InvalidMobile(NotifyError, InvalidInput):
    code = "invalid_mobile"


class SmsDeliveryError(NotifyError):
    """The gateway could not take the message now (network, throttling, 5xx): retried."""

    code = "sms_delivery_failed"
    http_status = 502


class SmsRejected(NotifyError):
    """The gateway refused the message for good (bad number, template, signature): not retried."""

    code = "sms_rejected"
    http_status = 502


def normalise_mobile(value: str) -> str:
    """A mainland mobile number as 11 digits (``+86``/``0086`` prefixes and separators dropped)."""
    digits = re.sub(r"[\s-]", "", value or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
    if not _MOBILE.match(digits):
        raise InvalidMobile("A mobile number is 11 digits starting with 1 (mainland China).")
    return digits


class SmsStatus:
    OUTBOX = "outbox"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class SmsMessage(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (
        Index("ix_sms_messages_created_at", "created_at"),
        Index("ix_sms_messages_recipient", "recipient"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recipient: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(64))  # selects the provider template
    params: Mapped[list[str]] = mapped_column(JSON)  # template parameters, in order
    text: Mapped[str] = mapped_column(Text)  # the rendered message (outbox, and providers taking free text)
    status: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(String(200))


@dataclass(frozen=True)
class OutgoingSms:
    id: str
    recipient: str  # 11 digits
    purpose: str
    params: list[str]
    text: str


class SmsGateway(Protocol):
    """Sends one message; returns the provider's message id. Raises SmsDeliveryError / SmsRejected."""

    name: str

    def send(self, message: OutgoingSms) -> str: ...


def tc3_authorization(
    *, secret_id: str, secret_key: str, service: str, host: str, action: str, payload: bytes, timestamp: int
) -> str:
    """Tencent Cloud API 3.0 ``Authorization`` (TC3-HMAC-SHA256) for a JSON POST to ``/``."""
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    content_type = "application/json; charset=utf-8"
    canonical_headers = f"content-type:{content_type}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    signed_headers = "content-type;host;x-tc-action"
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest()]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )

    def _hmac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    credential = f"Credential={secret_id}/{scope}"
    return f"TC3-HMAC-SHA256 {credential}, SignedHeaders={signed_headers}, Signature={signature}"


class TencentSmsGateway:
    """Tencent Cloud SMS ``SendSms`` (API 3.0, version 2021-01-11)."""

    name = "tencent-sms"
    VERSION = "2021-01-11"

    def __init__(
        self,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        region: str,
        app_id: str,
        sign_name: str,
        template_ids: dict[str, str],
        now: Any,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._endpoint = endpoint.rstrip("/") + "/"
        self._host = urlsplit(self._endpoint).netloc
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._region = region
        self._app_id = app_id
        self._sign_name = sign_name
        self._templates = dict(template_ids)
        self._now = now
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def send(self, message: OutgoingSms) -> str:
        template = self._templates.get(message.purpose)
        if template is None:
            raise SmsRejected(f"no SMS template is configured for purpose {message.purpose!r}")
        body = {
            "PhoneNumberSet": ["+86" + message.recipient],
            "SmsSdkAppId": self._app_id,
            "SignName": self._sign_name,
            "TemplateId": template,
            "TemplateParamSet": list(message.params),
            "SessionContext": message.id,
        }
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(self._now().timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Host": self._host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": self.VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self._region,
            "Authorization": tc3_authorization(
                secret_id=self._secret_id,
                secret_key=self._secret_key,
                service="sms",
                host=self._host,
                action="SendSms",
                payload=payload,
                timestamp=timestamp,
            ),
        }
        try:
            response = self._client.post(self._endpoint, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise SmsDeliveryError("the SMS gateway is unreachable") from exc
        if response.status_code >= 500:
            raise SmsDeliveryError(f"the SMS gateway answered HTTP {response.status_code}")
        try:
            result = response.json()["Response"]
        except (ValueError, KeyError, TypeError):
            raise SmsDeliveryError("the SMS gateway's answer is not API 3.0 JSON") from None
        error = result.get("Error")
        if error:
            code = str(error.get("Code", ""))
            if code.startswith(("InternalError", "RequestLimitExceeded", "LimitExceeded")):
                raise SmsDeliveryError(f"the SMS gateway is busy ({code})")
            raise SmsRejected(f"the SMS gateway refused the request ({code})")
        statuses = result.get("SendStatusSet") or []
        if not statuses:
            raise SmsDeliveryError("the SMS gateway returned no send status")
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code != "Ok":
            if code.startswith("LimitExceeded"):
                raise SmsDeliveryError(f"the SMS gateway throttled the number ({code})")
            raise SmsRejected(f"the SMS gateway refused the message ({code})")
        return str(status.get("SerialNo") or result.get("RequestId") or "")


class SmsService:
    """SMS use cases (``runtime.sms``)."""

    def __init__(self, runtime: Runtime, *, gateway: SmsGateway | None = None) -> None:
        self._runtime = runtime
        self._gateway = gateway
        self.outbox_mode = runtime.settings.sms_mode == "outbox" and gateway is None
        if self.outbox_mode and runtime.settings.is_production:
            log.warning("sms_mode is outbox in production: SMS are stored and never sent (sandbox)")

    @property
    def gateway(self) -> SmsGateway:
        if self._gateway is None:
            self._gateway = build_gateway(self._runtime)
        return self._gateway

    def queue_sms(
        self, session: Session, to: str, *, purpose: str, params: list[str], text: str
    ) -> SmsMessage:
        recipient = normalise_mobile(to)
        if not text.strip() or len(text) > MAX_TEXT_CHARS:
            raise InvalidInput(f"An SMS text is 1-{MAX_TEXT_CHARS} characters.", code="invalid_sms")
        now = self._runtime.clock.now()
        row = SmsMessage(
            id=new_id(),
            created_at=now,
            recipient=recipient,
            purpose=purpose,
            params=[str(p) for p in params],
            text=text,
            status=SmsStatus.OUTBOX if self.outbox_mode else SmsStatus.QUEUED,
            provider="outbox" if self.outbox_mode else self.gateway.name,
            attempts=0,
        )
        session.add(row)
        session.flush()
        if not self.outbox_mode:
            self._runtime.jobs.enqueue_after_commit(session, SEND_SMS_TASK, message_id=row.id)
        return row

    def deliver(self, ctx: JobContext, message_id: str) -> None:
        outgoing = self._claim(message_id)
        if outgoing is None:
            return
        try:
            provider_id = self.gateway.send(outgoing)
        except SmsRejected as exc:
            self._finish(message_id, status=SmsStatus.FAILED, error=describe_error(exc))
            raise PermanentJobError("the SMS gateway rejected the message") from exc
        except Exception as exc:
            final = ctx.is_last_attempt
            self._finish(
                message_id, status=SmsStatus.FAILED if final else SmsStatus.QUEUED, error=describe_error(exc)
            )
            raise
        self._finish(message_id, status=SmsStatus.SENT, provider_id=provider_id)
        log.info("sms %s sent (attempt %d)", message_id, ctx.attempt)

    def _claim(self, message_id: str) -> OutgoingSms | None:
        now = self._runtime.clock.now()
        lease = timedelta(seconds=max(60.0, 4 * self._runtime.settings.sms_timeout_seconds))
        with transaction(self._runtime.sessions) as session:
            claimed = session.execute(
                update(SmsMessage)
                .where(
                    SmsMessage.id == message_id,
                    SmsMessage.status == SmsStatus.QUEUED,
                    or_(SmsMessage.locked_until.is_(None), SmsMessage.locked_until < now),
                )
                .values(locked_until=now + lease, attempts=SmsMessage.attempts + 1)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(SmsMessage, message_id)
            assert row is not None
            return OutgoingSms(row.id, row.recipient, row.purpose, list(row.params), row.text)

    def _finish(
        self, message_id: str, *, status: str, error: str | None = None, provider_id: str | None = None
    ) -> None:
        values: dict[str, object] = {"status": status, "locked_until": None, "last_error": error}
        if status == SmsStatus.SENT:
            values.update(sent_at=self._runtime.clock.now(), provider_message_id=provider_id)
        with transaction(self._runtime.sessions) as session:
            session.execute(update(SmsMessage).where(SmsMessage.id == message_id).values(**values))

    def outbox(self, *, recipient: str | None = None, limit: int = 50) -> list[SmsMessage]:
        """Stored messages, newest first (the sandbox inbox; CLI and tests)."""
        with transaction(self._runtime.sessions) as session:
            query = select(SmsMessage).order_by(SmsMessage.created_at.desc(), SmsMessage.id).limit(limit)
            if recipient is not None:
                query = query.where(SmsMessage.recipient == normalise_mobile(recipient))
            rows = list(session.scalars(query))
            for row in rows:
                session.expunge(row)
            return rows


def build_gateway(runtime: Runtime) -> SmsGateway:
    settings = runtime.settings
    if settings.sms_mode != "tencent":
        raise ConfigurationError("No SMS gateway is configured (sms_mode is outbox).")
    if not (settings.tencent_secret_id and settings.tencent_secret_key and settings.sms_tencent_app_id):
        raise ConfigurationError(
            "Tencent SMS needs tencent_secret_id, tencent_secret_key and sms_tencent_app_id."
        )
    return TencentSmsGateway(
        endpoint=settings.sms_tencent_endpoint,
        secret_id=settings.tencent_secret_id,
        secret_key=settings.tencent_secret_key.get_secret_value(),
        region=settings.tencent_region,
        app_id=settings.sms_tencent_app_id,
        sign_name=settings.sms_sign_name,
        template_ids=settings.sms_tencent_template_ids,
        now=runtime.clock.now,
        timeout=settings.sms_timeout_seconds,
    )


@task(SEND_SMS_TASK)
def send_sms(ctx: JobContext, message_id: str) -> None:
    ctx.runtime.sms.deliver(ctx, message_id)
