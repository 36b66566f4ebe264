"""Organization API keys for systems, and the verification of requests signed with them.

A key has a public id (``spak_...``, sent as ``X-Sealpact-Key``) and a secret (``spas_...``) shown once
at creation. The server needs the secret itself to recompute each request's HMAC, so it is stored
encrypted with the field cipher (purpose ``apikey.secret``), never in clear and never only hashed.

Keys are created and revoked by members whose role grants ``org.manage`` (owners and admins), from a
session or a personal token with the ``admin`` scope; a key never mints keys. A key carries scopes (at
most its creator's), an optional expiry and a rate limit (requests per minute).

A key acts for its organization only, as its own identity: a *service user* made with the key (no
email, no mobile, no usable password, so it can never log in), member of the organization with the
``admin`` role when the key has the ``admin`` scope and ``member`` otherwise. So a key owns what it
creates, reaches the organization's objects through that membership like any member, and never
reaches anything personal of the member who created it; the key outlives its creator's membership.
Revoking the key removes the service user's membership; removing that membership also stops the key.
The organization's ``require_totp`` does not apply to keys (the signed request is the credential).

Verification (:meth:`ApiKeys.authenticate`), in order: header syntax; timestamp within
±:data:`~sealpact.apiauth.canonical.WINDOW_SECONDS` of the server clock; key known; HMAC over the
canonical request (see :mod:`sealpact.apiauth.canonical`) correct; key active; nonce not seen with this
key within the window (remembered in the database or Redis, so every app process sees it); rate limit.
A replay fails at the nonce (inside the window) or at the timestamp (after it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from sealpact.accounts.common import FieldEncryption
from sealpact.accounts.errors import ScopeDenied
from sealpact.accounts.models import Membership, User
from sealpact.accounts.orgs import require_org_permission
from sealpact.accounts.permissions import Permission, Role, Scope, parse_scopes
from sealpact.accounts.principal import Principal
from sealpact.apiauth import canonical
from sealpact.apiauth.errors import KeyRateLimited, NonceReused, SignatureInvalid, TimestampOutOfWindow
from sealpact.apiauth.models import OrgApiKey
from sealpact.apiauth.stores import (
    DatabaseNonceStore,
    DatabaseRateLimit,
    NonceStore,
    RateLimitStore,
    RedisNonceStore,
    RedisRateLimit,
)
from sealpact.audit import record
from sealpact.clock import Clock
from sealpact.context import RequestContext
from sealpact.db import new_id, transaction
from sealpact.errors import InvalidInput, NotFound, PermissionDenied

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

SECRET_PURPOSE = "apikey.secret"  # noqa: S105  (a field-cipher purpose name, not a secret)
KEY_ID_PREFIX = "spak_"
SECRET_PREFIX = "spas_"  # noqa: S105  (a format tag)
DEFAULT_RATE_PER_MINUTE = 600
MAX_RATE_PER_MINUTE = 100_000
RATE_WINDOW_SECONDS = 60
MAX_KEYS_PER_ORG = 100
LAST_USED_INTERVAL = timedelta(seconds=60)
_INVALID = "Invalid API key or signature."
# Not an Argon2 hash: no password ever verifies against it (and the user has no identifier to log in by).
_NO_PASSWORD = "!api-key-service-user"  # noqa: S105


@dataclass(frozen=True)
class ApiKeyView:
    id: str
    key_id: str
    organization_id: str
    name: str
    scopes: tuple[str, ...]
    rate_limit_per_minute: int
    service_user_id: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: OrgApiKey) -> ApiKeyView:
        return cls(
            row.id,
            row.key_id,
            row.organization_id,
            row.name,
            tuple(sorted(s.value for s in parse_scopes(row.scopes))),
            row.rate_limit_per_minute,
            row.service_user_id,
            row.created_by,
            row.created_at,
            row.expires_at,
            row.last_used_at,
            row.revoked_at,
        )


@dataclass(frozen=True)
class CreatedApiKey:
    secret: str  # the only time the secret is available
    view: ApiKeyView


@dataclass(frozen=True)
class SignedRequest:
    """What the web layer hands over: the request line, raw body and the four signing headers."""

    method: str
    path: str  # as sent on the wire (percent-encoded), without the query
    raw_query: str
    body: bytes
    key_id: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None


class ApiKeys:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        fields: FieldEncryption,
        nonces: NonceStore,
        rates: RateLimitStore,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._fields = fields
        self._nonces = nonces
        self._rates = rates

    # -- management ---------------------------------------------------------------------------------

    @staticmethod
    def _require_manager(principal: Principal) -> None:
        principal.require_scope(Scope.ADMIN)
        if principal.api_key_id is not None:
            raise PermissionDenied("An API key cannot manage API keys.", code="api_key_not_allowed")

    def create(
        self,
        principal: Principal,
        organization_id: str,
        name: str,
        scopes: frozenset[Scope],
        ctx: RequestContext,
        *,
        expires_at: datetime | None = None,
        rate_limit_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    ) -> CreatedApiKey:
        """Mint a key for ``organization_id``; the secret is returned here and never again."""
        self._require_manager(principal)
        name = " ".join(name.split())
        if not 1 <= len(name) <= 100:
            raise InvalidInput("A key name is 1 to 100 characters.")
        if not scopes:
            raise InvalidInput("A key needs at least one scope.")
        if not scopes <= principal.scopes:
            raise ScopeDenied("A key cannot grant scopes its creator lacks.")
        if not 1 <= rate_limit_per_minute <= MAX_RATE_PER_MINUTE:
            raise InvalidInput(f"The rate limit is 1 to {MAX_RATE_PER_MINUTE} requests per minute.")
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("The expiry must be in the future.")
        key_id = KEY_ID_PREFIX + secrets.token_hex(12)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        with transaction(self._sessions) as session:
            require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
            active = session.scalar(
                select(func.count())
                .select_from(OrgApiKey)
                .where(OrgApiKey.organization_id == organization_id, OrgApiKey.revoked_at.is_(None))
            )
            if int(active or 0) >= MAX_KEYS_PER_ORG:
                raise InvalidInput(f"At most {MAX_KEYS_PER_ORG} active API keys per organization.")
            service_user = User(
                id=new_id(),
                email=None,
                mobile=None,
                password_hash=_NO_PASSWORD,
                is_platform_admin=False,
                is_active=True,
                created_at=now,
                password_changed_at=now,
            )
            session.add(service_user)
            session.flush()
            role = Role.ADMIN if Scope.ADMIN in scopes else Role.MEMBER
            session.add(
                Membership(
                    organization_id=organization_id, user_id=service_user.id, role=role, created_at=now
                )
            )
            row = OrgApiKey(
                key_id=key_id,
                organization_id=organization_id,
                created_by=principal.user_id,
                service_user_id=service_user.id,
                name=name,
                secret_enc=self._fields.encrypt(secret, purpose=SECRET_PURPOSE, session=session),
                scopes=" ".join(sorted(s.value for s in scopes)),
                rate_limit_per_minute=rate_limit_per_minute,
                created_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            record(
                session,
                ctx,
                self._clock,
                action="api_key.created",
                actor=principal.actor,
                object_type="org_api_key",
                object_id=row.id,
                organization_id=organization_id,
                details={
                    "name": name,
                    "scopes": sorted(s.value for s in scopes),
                    "token_id": key_id,
                    "rate_limit_per_minute": rate_limit_per_minute,
                },
            )
            return CreatedApiKey(secret, ApiKeyView.of(row))

    def list(self, principal: Principal, organization_id: str) -> list[ApiKeyView]:
        self._require_manager(principal)
        with transaction(self._sessions) as session:
            require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
            rows = session.scalars(
                select(OrgApiKey)
                .where(OrgApiKey.organization_id == organization_id)
                .order_by(OrgApiKey.created_at, OrgApiKey.id)
            )
            return [ApiKeyView.of(row) for row in rows]

    def revoke(
        self, principal: Principal, organization_id: str, api_key_id: str, ctx: RequestContext
    ) -> ApiKeyView:
        self._require_manager(principal)
        with transaction(self._sessions) as session:
            require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
            row = session.get(OrgApiKey, api_key_id)
            # Another organization's key is indistinguishable from no key.
            if row is None or row.organization_id != organization_id:
                raise NotFound("API key not found.")
            if row.revoked_at is None:
                row.revoked_at = self._clock.now()
                session.execute(
                    delete(Membership).where(
                        Membership.organization_id == organization_id,
                        Membership.user_id == row.service_user_id,
                    )
                )
                record(
                    session,
                    ctx,
                    self._clock,
                    action="api_key.revoked",
                    actor=principal.actor,
                    object_type="org_api_key",
                    object_id=row.id,
                    organization_id=organization_id,
                    details={"token_id": row.key_id},
                )
            return ApiKeyView.of(row)

    # -- verification -------------------------------------------------------------------------------

    def authenticate(self, request: SignedRequest) -> Principal:
        """The principal of a signed request, or a typed 401/429 error; see the module docstring."""
        key_id, timestamp, nonce, signature = self._check_headers(request)
        now = self._clock.now()
        ts = int(timestamp)
        if abs(now.timestamp() - ts) > canonical.WINDOW_SECONDS:
            raise TimestampOutOfWindow(
                f"X-Sealpact-Timestamp is more than {canonical.WINDOW_SECONDS} seconds from the server's "
                "clock; sign the request again with the current time."
            )
        text = canonical.string_to_sign(
            method=request.method,
            path=request.path,
            raw_query=request.raw_query,
            body_hash=canonical.body_sha256(request.body),
            timestamp=timestamp,
            nonce=nonce,
            key_id=key_id,
        )
        with transaction(self._sessions) as session:
            row = session.scalars(select(OrgApiKey).where(OrgApiKey.key_id == key_id)).one_or_none()
            if row is None:
                raise SignatureInvalid(_INVALID)
            secret = self._fields.decrypt(row.secret_enc, purpose=SECRET_PURPOSE, session=session)
            if not canonical.signature_matches(secret, text, signature):
                raise SignatureInvalid(_INVALID)
            if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
                raise SignatureInvalid("This API key is revoked or expired.")
            if not self._still_member(session, row):
                raise SignatureInvalid("This API key no longer belongs to its organization.")
            view = ApiKeyView.of(row)
        # Remembered until the timestamp leaves the window: afterwards the timestamp check refuses it.
        expires = datetime.fromtimestamp(ts, tz=now.tzinfo) + timedelta(seconds=canonical.WINDOW_SECONDS + 1)
        if not self._nonces.remember(key_id, nonce, expires):
            raise NonceReused("This nonce was already used with this key: the request is a replay.")
        retry_after = self._rates.hit(key_id, view.rate_limit_per_minute, RATE_WINDOW_SECONDS)
        if retry_after:
            raise KeyRateLimited(
                f"This API key is limited to {view.rate_limit_per_minute} requests per minute.", retry_after
            )
        self._touch(view.id, now)
        return Principal.for_api_key(
            view.service_user_id, view.organization_id, view.id, frozenset(Scope(s) for s in view.scopes)
        )

    @staticmethod
    def _check_headers(request: SignedRequest) -> tuple[str, str, str, str]:
        checks = (
            (canonical.HEADER_KEY, request.key_id, canonical.KEY_ID_PATTERN.fullmatch),
            (
                canonical.HEADER_TIMESTAMP,
                request.timestamp,
                lambda v: v.isascii() and v.isdigit() and len(v) <= 12,
            ),
            (canonical.HEADER_NONCE, request.nonce, canonical.NONCE_PATTERN.fullmatch),
            (canonical.HEADER_SIGNATURE, request.signature, canonical.SIGNATURE_PATTERN.fullmatch),
        )
        values: list[str] = []
        for header, value, valid in checks:
            if not value:
                raise SignatureInvalid(f"A signed request needs the {header} header.")
            if not valid(value):
                raise SignatureInvalid(f"The {header} header is malformed.")
            values.append(value)
        return values[0], values[1], values[2], values[3]

    @staticmethod
    def _still_member(session: Session, row: OrgApiKey) -> bool:
        user = session.get(User, row.service_user_id)
        if user is None or not user.is_active:
            return False
        membership = session.scalar(
            select(Membership.id).where(
                Membership.organization_id == row.organization_id, Membership.user_id == row.service_user_id
            )
        )
        return membership is not None

    def _touch(self, api_key_id: str, now: datetime) -> None:
        # last_used_at is a hint, written at most once a minute whichever process serves the key.
        with transaction(self._sessions) as session:
            session.execute(
                update(OrgApiKey)
                .where(
                    OrgApiKey.id == api_key_id,
                    or_(OrgApiKey.last_used_at.is_(None), OrgApiKey.last_used_at <= now - LAST_USED_INTERVAL),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )

    def purge_expired(self) -> dict[str, int]:
        """Housekeeping for the periodic job ``apikeys.purge_expired`` (expired rows are refused anyway)."""
        return {
            "nonces": self._nonces.purge_expired(),
            "rate_windows": self._rates.purge_expired(RATE_WINDOW_SECONDS),
        }


def build_api_keys(runtime: Runtime) -> ApiKeys:
    """Redis stores when ``redis_url`` is set (shared by every process and host), else the database."""
    nonces: NonceStore
    rates: RateLimitStore
    if runtime.settings.redis_url:
        import redis

        client = redis.Redis.from_url(runtime.settings.redis_url)
        nonces = RedisNonceStore(client, runtime.clock)
        rates = RedisRateLimit(client, runtime.clock)
    else:
        nonces = DatabaseNonceStore(runtime.sessions, runtime.clock)
        rates = DatabaseRateLimit(runtime.sessions, runtime.clock)
    return ApiKeys(runtime.sessions, runtime.clock, runtime.fields, nonces, rates)
