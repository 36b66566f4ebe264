"""Recording audit events and serialising them canonically.

Services call :func:`record` with the SQLAlchemy session of the change being recorded, so the event
commits or rolls back with it. ``details`` is a small JSON object for context; it must never carry
secrets or raw personal data (use :func:`mask_email` / :func:`mask_mobile`), and keys that look like
secrets are refused outright.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact.audit.models import AuditEvent
from sealpact.clock import Clock, as_utc
from sealpact.context import RequestContext
from sealpact.db import new_id
from sealpact.errors import SealpactError

CANONICAL_VERSION = 1
MAX_DETAILS_BYTES = 4096
# Words of detail keys (split on "_") that suggest a secret; a programming error, caught before storing.
_FORBIDDEN_KEY_WORDS = frozenset(
    {"password", "passwd", "passphrase", "secret", "token", "otp", "code", "pin", "key", "cookie"}
)
_ALLOWED_KEYS = frozenset({"token_id", "token_prefix", "reason_code"})


class AuditDetailsError(SealpactError):
    """A service tried to record details that could hold a secret (a bug, never user input)."""

    code = "audit_details_rejected"
    http_status = 500


@dataclass(frozen=True)
class Actor:
    """Who did it: a user (through a session), an API token of a user, the system, or nobody yet."""

    kind: str
    user_id: str | None = None
    token_id: str | None = None

    @classmethod
    def user(cls, user_id: str) -> Actor:
        return cls("user", user_id)

    @classmethod
    def api_token(cls, user_id: str, token_id: str) -> Actor:
        return cls("api_token", user_id, token_id)

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @classmethod
    def anonymous(cls) -> Actor:
        return cls("anonymous")


def _check_details(details: dict[str, Any]) -> str:
    for key in details:
        lowered = key.lower()
        if lowered not in _ALLOWED_KEYS and _FORBIDDEN_KEY_WORDS & set(lowered.replace("-", "_").split("_")):
            raise AuditDetailsError("audit details must not contain secrets")
    text = _canonical_json(details)
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise AuditDetailsError("audit details too large")
    return text


def record(
    session: Session,
    ctx: RequestContext,
    clock: Clock,
    *,
    action: str,
    actor: Actor,
    object_type: str | None = None,
    object_id: str | None = None,
    organization_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to ``session``; it is written when (and only if) that session commits."""
    event = AuditEvent(
        id=new_id(),
        occurred_at=clock.now(),
        actor_kind=actor.kind,
        actor_user_id=actor.user_id,
        actor_token_id=actor.token_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        organization_id=organization_id,
        ip=ctx.ip[:64] if ctx.ip else None,
        user_agent=ctx.user_agent[:512] if ctx.user_agent else None,
        request_id=ctx.request_id[:64] if ctx.request_id else None,
        details=_check_details(details or {}),
    )
    session.add(event)
    # Flush now so the sequence number is assigned inside the same transaction.
    session.flush()
    return event


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _timestamp(value: datetime) -> str:
    return as_utc(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(event: AuditEvent) -> bytes:
    """The stable byte serialisation of an event (what the evidence log will hash).

    UTF-8 JSON with sorted keys and no insignificant whitespace; times as RFC 3339 UTC with
    microseconds; every column included, with ``details`` parsed back into an object. A format
    change must bump :data:`CANONICAL_VERSION`.
    """
    body = {
        "v": CANONICAL_VERSION,
        "seq": event.seq,
        "id": event.id,
        "occurred_at": _timestamp(event.occurred_at),
        "actor": {"kind": event.actor_kind, "user_id": event.actor_user_id, "token_id": event.actor_token_id},
        "action": event.action,
        "object": {"type": event.object_type, "id": event.object_id},
        "organization_id": event.organization_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": json.loads(event.details or "{}"),
    }
    return _canonical_json(body).encode("utf-8")


def events_for(
    session: Session,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
) -> list[AuditEvent]:
    """Events in sequence order, optionally filtered (used by tests and admin views)."""
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if object_type is not None:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))


def mask_email(email: str) -> str:
    """``alice@example.com`` -> ``a***@example.com``: enough to recognise, not to harvest."""
    local, sep, domain = email.partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_mobile(mobile: str) -> str:
    """``13812345678`` -> ``138****5678`` (the usual Chinese masking)."""
    digits = mobile.removeprefix("+86")
    if len(digits) < 7:
        return "***"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_identifier(identifier: str) -> str:
    return mask_email(identifier) if "@" in identifier else mask_mobile(identifier)
