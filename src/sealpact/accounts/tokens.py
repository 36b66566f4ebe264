"""Personal API tokens: ``spk_`` + 256 random bits, shown once, stored as SHA-256, scoped, revocable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from sealpact.accounts.common import AccountsDeps, new_secret_token, token_hash
from sealpact.accounts.errors import ScopeDenied, SessionInvalid
from sealpact.accounts.models import ApiToken, User
from sealpact.accounts.permissions import Scope, parse_scopes
from sealpact.accounts.principal import Principal
from sealpact.audit import record
from sealpact.context import RequestContext
from sealpact.db import transaction
from sealpact.errors import InvalidInput, NotFound

TOKEN_PREFIX = "spk_"  # noqa: S105  (a format tag, not a secret)
# last_used_at is a hint for the user, not an audit trail: write it at most this often.
LAST_USED_INTERVAL = timedelta(seconds=60)
MAX_TOKENS_PER_USER = 100


@dataclass(frozen=True)
class TokenView:
    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken) -> TokenView:
        return cls(
            row.id,
            row.name,
            row.prefix,
            tuple(sorted(s.value for s in parse_scopes(row.scopes))),
            row.created_at,
            row.expires_at,
            row.last_used_at,
            row.revoked_at,
        )


@dataclass(frozen=True)
class CreatedToken:
    token: str  # the only time the secret is available
    view: TokenView


class Tokens:
    def __init__(self, deps: AccountsDeps) -> None:
        self._d = deps

    def create(
        self,
        principal: Principal,
        name: str,
        scopes: frozenset[Scope],
        ctx: RequestContext,
        *,
        expires_at: datetime | None = None,
    ) -> CreatedToken:
        """Mint a token; a token can only mint tokens with scopes it holds itself."""
        principal.require_scope(Scope.ADMIN)
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("A token name is 1 to 100 characters.")
        if not scopes:
            raise InvalidInput("A token needs at least one scope.")
        if not scopes <= principal.scopes:
            raise ScopeDenied("A token cannot grant scopes its creator lacks.")
        now = self._d.clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("The expiry must be in the future.")
        secret = new_secret_token(TOKEN_PREFIX)
        with transaction(self._d.sessions) as session:
            count = len(
                session.scalars(
                    select(ApiToken.id).where(
                        ApiToken.user_id == principal.user_id, ApiToken.revoked_at.is_(None)
                    )
                ).all()
            )
            if count >= MAX_TOKENS_PER_USER:
                raise InvalidInput(f"At most {MAX_TOKENS_PER_USER} active tokens per user.")
            row = ApiToken(
                user_id=principal.user_id,
                name=name,
                token_hash=token_hash(secret),
                prefix=secret[:12],
                scopes=" ".join(sorted(s.value for s in scopes)),
                created_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            session.flush()
            record(
                session,
                ctx,
                self._d.clock,
                action="token.created",
                actor=principal.actor,
                object_type="api_token",
                object_id=row.id,
                details={"scopes": sorted(s.value for s in scopes), "token_prefix": row.prefix},
            )
            return CreatedToken(secret, TokenView.of(row))

    def list(self, principal: Principal) -> list[TokenView]:
        principal.require_scope(Scope.ADMIN)
        with transaction(self._d.sessions) as session:
            rows = session.scalars(
                select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.created_at)
            )
            return [TokenView.of(row) for row in rows]

    def revoke(self, principal: Principal, token_id: str, ctx: RequestContext) -> TokenView:
        principal.require_scope(Scope.ADMIN)
        with transaction(self._d.sessions) as session:
            row = session.get(ApiToken, token_id)
            # Someone else's token is indistinguishable from no token.
            if row is None or row.user_id != principal.user_id:
                raise NotFound("Token not found.")
            if row.revoked_at is None:
                row.revoked_at = self._d.clock.now()
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="token.revoked",
                    actor=principal.actor,
                    object_type="api_token",
                    object_id=row.id,
                )
            return TokenView.of(row)

    def authenticate(self, secret: str) -> Principal:
        """The principal behind ``Authorization: Bearer spk_...``; :class:`SessionInvalid` otherwise."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            raise SessionInvalid("Invalid API token.")
        now = self._d.clock.now()
        with transaction(self._d.sessions) as session:
            row = session.scalars(
                select(ApiToken).where(ApiToken.token_hash == token_hash(secret))
            ).one_or_none()
            if (
                row is None
                or row.revoked_at is not None
                or (row.expires_at is not None and row.expires_at <= now)
            ):
                raise SessionInvalid("Invalid, expired or revoked API token.")
            user = session.get(User, row.user_id)
            if user is None or not user.is_active:
                raise SessionInvalid("Invalid, expired or revoked API token.")
            # Throttled write: only when the stored value is older than the interval (any process).
            session.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == row.id,
                    or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_INTERVAL),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            return Principal.for_token(user.id, user.is_platform_admin, row.id, parse_scopes(row.scopes))
