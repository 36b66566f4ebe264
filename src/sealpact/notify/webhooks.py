"""Webhooks: endpoints owned by a user (or an organization), signed deliveries, retries, a delivery log.

An event (``contract.sent``, ``party.signed``, ...) is turned into one ``webhook_deliveries`` row per
subscribed endpoint inside the transaction of the change it reports, and a ``notify.deliver_webhook``
job is enqueued after the commit. The job POSTs the JSON body with::

    Sealpact-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

(the scheme Stripe and others use: the timestamp is signed with the body, so a receiver can refuse
replays older than its tolerance; see :func:`verify_signature`). Any 2xx is success; anything else
(or no answer) is retried by the job queue with exponential backoff and jitter, and every attempt is
written to ``webhook_attempts``. Secrets are encrypted with the field cipher and shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from sealpact import audit
from sealpact.accounts.orgs import require_org_permission
from sealpact.accounts.permissions import Permission, Scope
from sealpact.accounts.principal import Principal
from sealpact.context import RequestContext
from sealpact.db import Base, UTCDateTime, new_id, transaction
from sealpact.errors import InvalidInput, NotFound
from sealpact.jobs import JobContext, PermanentJobError, task
from sealpact.jobs.registry import describe_error
from sealpact.notify.errors import NotifyError

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.notify.webhooks")

DELIVER_TASK = "notify.deliver_webhook"
SIGNATURE_HEADER = "Sealpact-Signature"
SECRET_PURPOSE = "webhook.secret"  # noqa: S105  (a field-cipher purpose label)
EVENT_TYPES = frozenset(
    {
        "contract.sent",
        "contract.completed",
        "contract.declined",
        "contract.cancelled",
        "contract.expired",
        "party.activated",
        "party.viewed",
        "party.intent_confirmed",
        "party.signed",
        "party.approved",
        "party.declined",
        "party.reminded",
        "party.contact_corrected",
    }
)
MAX_ENDPOINTS_PER_OWNER = 20
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookNotFound(NotifyError, NotFound):
    code = "webhook_not_found"


class InvalidWebhook(NotifyError, InvalidInput):
    code = "invalid_webhook"


class WebhookSignatureInvalid(NotifyError):
    code = "webhook_signature_invalid"
    http_status = 401


class WebhookDeliveryFailed(NotifyError):
    code = "webhook_delivery_failed"
    http_status = 502


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    secret_enc: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int] = mapped_column(Integer)


class WebhookTransport(Protocol):
    """POSTs a body; returns the HTTP status. Raises ``OSError``/``httpx.HTTPError`` when unreachable."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int: ...


class HttpxWebhookTransport:
    def __init__(self, timeout: float) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        return self._client.post(url, content=body, headers=headers).status_code


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Sealpact-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: int, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> None:
    """What a receiver does: check the HMAC (constant time) and the timestamp window; raise if wrong."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError, IndexError):
        raise WebhookSignatureInvalid("no timestamp in the signature header") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureInvalid("the signature timestamp is outside the tolerance")
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise WebhookSignatureInvalid("the signature does not match")


@dataclass(frozen=True)
class EndpointView:
    id: str
    url: str
    events: list[str]
    organization_id: str | None
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: EndpointView
    secret: str  # shown once


@dataclass(frozen=True)
class DeliveryView:
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None


def _view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(row.id, row.url, list(row.events), row.organization_id, row.active, row.created_at)


def _delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        row.id,
        row.event_id,
        row.event_type,
        row.status,
        row.attempts,
        row.created_at,
        row.delivered_at,
        row.last_status_code,
        row.last_error,
    )


class Webhooks:
    """Webhook use cases (``runtime.webhooks``)."""

    def __init__(self, runtime: Runtime, *, transport: WebhookTransport | None = None) -> None:
        self._rt = runtime
        self._transport = transport

    @property
    def transport(self) -> WebhookTransport:
        if self._transport is None:
            self._transport = HttpxWebhookTransport(self._rt.settings.webhook_timeout_seconds)
        return self._transport

    # -- endpoints ---------------------------------------------------------------------------------

    def create_endpoint(
        self,
        principal: Principal,
        ctx: RequestContext,
        *,
        url: str,
        events: list[str],
        organization_id: str | None = None,
    ) -> CreatedEndpoint:
        principal.require_scope(Scope.WRITE)
        url = self._check_url(url)
        chosen = sorted(set(events))
        unknown = [e for e in chosen if e not in EVENT_TYPES]
        if not chosen or unknown:
            raise InvalidWebhook(f"Choose events among: {', '.join(sorted(EVENT_TYPES))}.")
        secret = "whsec_" + secrets.token_urlsafe(32)
        with transaction(self._rt.sessions) as session:
            if organization_id is not None:
                require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
            count = len(
                list(
                    session.scalars(
                        select(WebhookEndpoint.id).where(WebhookEndpoint.owner_user_id == principal.user_id)
                    )
                )
            )
            if count >= MAX_ENDPOINTS_PER_OWNER:
                raise InvalidWebhook(f"At most {MAX_ENDPOINTS_PER_OWNER} webhook endpoints per user.")
            row = WebhookEndpoint(
                id=new_id(),
                owner_user_id=principal.user_id,
                organization_id=organization_id,
                url=url,
                secret_enc="",
                events=chosen,
                active=True,
                created_at=self._rt.clock.now(),
            )
            row.secret_enc = self._rt.fields.encrypt(secret, purpose=SECRET_PURPOSE, session=session)
            session.add(row)
            audit.record(
                session,
                ctx,
                self._rt.clock,
                action="webhook.created",
                actor=principal.actor,
                object_type="webhook_endpoint",
                object_id=row.id,
                organization_id=organization_id,
            )
            return CreatedEndpoint(_view(row), secret)

    def list_endpoints(self, principal: Principal) -> list[EndpointView]:
        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            rows = session.scalars(
                select(WebhookEndpoint)
                .where(WebhookEndpoint.owner_user_id == principal.user_id)
                .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
            )
            return [_view(r) for r in rows]

    def delete_endpoint(self, principal: Principal, ctx: RequestContext, endpoint_id: str) -> None:
        principal.require_scope(Scope.WRITE)
        with transaction(self._rt.sessions) as session:
            row = self._owned(session, principal, endpoint_id)
            session.delete(row)
            audit.record(
                session,
                ctx,
                self._rt.clock,
                action="webhook.deleted",
                actor=principal.actor,
                object_type="webhook_endpoint",
                object_id=endpoint_id,
            )

    def deliveries(self, principal: Principal, endpoint_id: str, *, limit: int = 50) -> list[DeliveryView]:
        """The delivery log of one endpoint, newest first."""
        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            self._owned(session, principal, endpoint_id)
            rows = session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.endpoint_id == endpoint_id)
                .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
                .limit(max(1, min(limit, 200)))
            )
            return [_delivery_view(r) for r in rows]

    def attempts(self, principal: Principal, delivery_id: str) -> list[WebhookAttempt]:
        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                raise WebhookNotFound("No such delivery.")
            self._owned(session, principal, delivery.endpoint_id)
            rows = list(
                session.scalars(
                    select(WebhookAttempt)
                    .where(WebhookAttempt.delivery_id == delivery_id)
                    .order_by(WebhookAttempt.attempt)
                )
            )
            for row in rows:
                session.expunge(row)
            return rows

    @staticmethod
    def _owned(session: Session, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
        row = session.get(WebhookEndpoint, endpoint_id)
        if row is None or row.owner_user_id != principal.user_id:
            raise WebhookNotFound("No such webhook endpoint.")
        return row

    def _check_url(self, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
            raise InvalidWebhook("A webhook URL is an absolute http(s) URL.")
        if parts.username or parts.password:
            raise InvalidWebhook("A webhook URL must not carry credentials.")
        if self._rt.settings.is_production and parts.scheme != "https":
            raise InvalidWebhook("Webhook URLs must use https.")
        if not self._rt.settings.webhook_allow_private_targets and _is_private(parts.hostname):
            raise InvalidWebhook("Webhook URLs must not point at loopback or private addresses.")
        return url.strip()

    # -- events ------------------------------------------------------------------------------------

    def emit(
        self,
        session: Session,
        *,
        event_type: str,
        owner_user_id: str,
        organization_id: str | None,
        data: dict[str, Any],
    ) -> int:
        """Queue ``event_type`` to every subscribed endpoint of the owner (and organization), in ``session``.

        Returns the number of deliveries created. ``data`` must hold no unmasked personal data.
        """
        if event_type not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event {event_type!r}")
        owners = WebhookEndpoint.owner_user_id == owner_user_id
        if organization_id is not None:
            owners = owners | (WebhookEndpoint.organization_id == organization_id)
        endpoints = [
            e
            for e in session.scalars(select(WebhookEndpoint).where(owners, WebhookEndpoint.active.is_(True)))
            if event_type in e.events and (e.organization_id is None or e.organization_id == organization_id)
        ]
        if not endpoints:
            return 0
        now = self._rt.clock.now()
        event_id = new_id()
        body = json.dumps(
            {"id": event_id, "type": event_type, "created": now.isoformat(), "data": data},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        for endpoint in endpoints:
            delivery = WebhookDelivery(
                id=new_id(),
                endpoint_id=endpoint.id,
                event_id=event_id,
                event_type=event_type,
                body=body,
                status="pending",
                attempts=0,
                created_at=now,
            )
            session.add(delivery)
            session.flush()
            self._rt.jobs.enqueue_after_commit(session, DELIVER_TASK, delivery_id=delivery.id)
        return len(endpoints)

    def deliver(self, ctx: JobContext, delivery_id: str) -> None:
        """One attempt (the job). Raises on failure so the queue retries with backoff."""
        with transaction(self._rt.sessions) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                return
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
            if endpoint is None or not endpoint.active:
                delivery.status = "failed"
                delivery.last_error = "endpoint removed or disabled"
                return
            secret = self._rt.fields.decrypt(endpoint.secret_enc, purpose=SECRET_PURPOSE, session=session)
            url, body, event_type = endpoint.url, delivery.body.encode(), delivery.event_type
            delivery.attempts += 1
            attempt = delivery.attempts
        timestamp = int(self._rt.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "sealpact-webhooks",
            "Sealpact-Event": event_type,
            "Sealpact-Delivery": delivery_id,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            status = self.transport.post(url, body, headers)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (OSError, httpx.HTTPError) as exc:
            error = describe_error(exc)
        duration = int((time.monotonic() - started) * 1000)
        final = error is not None and ctx.is_last_attempt
        with transaction(self._rt.sessions) as session:
            session.add(
                WebhookAttempt(
                    id=new_id(),
                    delivery_id=delivery_id,
                    attempt=attempt,
                    attempted_at=self._rt.clock.now(),
                    status_code=status,
                    error=error,
                    duration_ms=duration,
                )
            )
            values: dict[str, object] = {"last_status_code": status, "last_error": error}
            if error is None:
                values.update(status="delivered", delivered_at=self._rt.clock.now())
            elif final:
                values["status"] = "failed"
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))
        if error is not None:
            log.warning("webhook delivery %s attempt %d failed (%s)", delivery_id, attempt, error)
            if final:
                raise PermanentJobError("webhook delivery failed for good")
            raise WebhookDeliveryFailed("the receiver did not accept the webhook")


def _is_private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable now: the delivery will fail and be retried, not reach a private host
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            return True
    return False


@task(DELIVER_TASK)
def deliver_webhook(ctx: JobContext, delivery_id: str) -> None:
    ctx.runtime.webhooks.deliver(ctx, delivery_id)
