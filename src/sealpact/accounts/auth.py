"""Logging in (password, then TOTP when enabled), browser sessions, logout and password changes.

Sessions, pending second-factor logins and throttling counters all live in the database (or Redis),
never in process memory, so any app process can continue what another one started.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sealpact.accounts.common import (
    AccountsDeps,
    derive_csrf_token,
    new_secret_token,
    token_hash,
    user_by_identifier,
)
from sealpact.accounts.errors import (
    AccountLocked,
    CsrfFailed,
    InvalidCredentials,
    InvalidIdentifier,
    InvalidTotp,
    SessionInvalid,
    TooManyAttempts,
)
from sealpact.accounts.identifiers import parse_identifier
from sealpact.accounts.models import AuthSession, PendingLogin, User
from sealpact.accounts.passwords import check_policy
from sealpact.accounts.principal import Principal
from sealpact.accounts.throttle import account_user_key, identifier_key, ip_key
from sealpact.accounts.twofactor import TwoFactor
from sealpact.audit import Actor, mask_identifier, record
from sealpact.context import RequestContext
from sealpact.db import transaction

# A session ends after settings.session_ttl_seconds, or earlier after this long without use.
SESSION_IDLE_TIMEOUT = timedelta(hours=2)
# last_seen_at is written at most this often, so reads do not each cost a write.
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)
PENDING_LOGIN_TTL = timedelta(minutes=5)
PENDING_LOGIN_MAX_ATTEMPTS = 5

_BAD_CREDENTIALS = "Invalid credentials."


@dataclass(frozen=True)
class SessionGrant:
    """A new browser session: the cookie value and its CSRF token (both shown to this client only)."""

    user_id: str
    session_token: str
    csrf_token: str
    max_age_seconds: int


@dataclass(frozen=True)
class SecondFactorNeeded:
    """Password accepted; send ``pending_token`` back with a TOTP or recovery code."""

    pending_token: str
    expires_in_seconds: int


LoginResult = SessionGrant | SecondFactorNeeded


class Auth:
    def __init__(self, deps: AccountsDeps, two_factor: TwoFactor) -> None:
        self._d = deps
        self._totp = two_factor

    # --- login --------------------------------------------------------------------------------

    def _check_locks(self, account: str, ip: str) -> None:
        # IP first: a sprayer hitting many accounts learns nothing about any one of them.
        wait = self._d.throttle.locked_for(ip)
        if wait:
            raise TooManyAttempts("Too many failed login attempts from this address; try again later.", wait)
        wait = self._d.throttle.locked_for(account)
        if wait:
            raise AccountLocked("Too many failed login attempts; try again later.", wait)

    def _count_failure(self, account: str, ip: str, ctx: RequestContext, user_id: str | None) -> None:
        locked = self._d.throttle.register_failure(account, self._d.account_limit)
        ip_locked = self._d.throttle.register_failure(ip, self._d.ip_limit)
        if locked or ip_locked:
            with transaction(self._d.sessions) as session:
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="auth.lockout",
                    actor=Actor.anonymous(),
                    object_type="user" if user_id else None,
                    object_id=user_id,
                    details={"scope": "account" if locked else "ip", "seconds": locked or ip_locked},
                )

    def login(self, identifier: str, password: str, ctx: RequestContext) -> LoginResult:
        """First step. Raises :class:`InvalidCredentials` (same for unknown user and wrong password),
        :class:`AccountLocked` or :class:`TooManyAttempts`."""
        try:
            ident = parse_identifier(identifier)
        except InvalidIdentifier:
            ident = None
        ip = ip_key(ctx.ip)
        with transaction(self._d.sessions) as session:
            user = user_by_identifier(session, ident) if ident else None
        account = account_user_key(user.id) if user else identifier_key(ident.value if ident else identifier)
        self._check_locks(account, ip)

        # Always one Argon2 verification, against a dummy hash when there is no such user.
        ok = self._d.passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            with transaction(self._d.sessions) as session:
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="auth.login_failed",
                    actor=Actor.anonymous(),
                    object_type="user" if user else None,
                    object_id=user.id if user else None,
                    details={
                        "identifier": mask_identifier(ident.value) if ident else "(malformed)",
                        "reason_code": "bad_password" if user else "unknown_account",
                    },
                )
            self._count_failure(account, ip, ctx, user.id if user else None)
            raise InvalidCredentials(_BAD_CREDENTIALS)

        # Argon2 parameters were raised since this hash was made: upgrade it while we have the password
        # (hashed outside the transaction, so no write lock is held during the slow part).
        rehashed = (
            self._d.passwords.hash(password) if self._d.passwords.needs_rehash(user.password_hash) else None
        )
        with transaction(self._d.sessions) as session:
            fresh = session.get(User, user.id)
            if fresh is None:
                raise InvalidCredentials(_BAD_CREDENTIALS)
            if rehashed is not None and fresh.password_hash == user.password_hash:
                fresh.password_hash = rehashed
            result: LoginResult
            if fresh.totp_secret_enc is not None:
                result = self._start_pending(session, fresh)
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="auth.password_accepted",
                    actor=Actor.user(fresh.id),
                    object_type="user",
                    object_id=fresh.id,
                )
            else:
                result = self._open_session(session, fresh, ctx)
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="auth.login",
                    actor=Actor.user(fresh.id),
                    object_type="user",
                    object_id=fresh.id,
                    details={"second_factor": "none"},
                )
        self._d.throttle.reset(account)
        return result

    def _start_pending(self, session: Session, user: User) -> SecondFactorNeeded:
        token = new_secret_token()
        now = self._d.clock.now()
        session.add(
            PendingLogin(
                user_id=user.id,
                token_hash=token_hash(token),
                created_at=now,
                expires_at=now + PENDING_LOGIN_TTL,
                attempts=0,
            )
        )
        return SecondFactorNeeded(token, int(PENDING_LOGIN_TTL.total_seconds()))

    def login_second_factor(self, pending_token: str, code: str, ctx: RequestContext) -> SessionGrant:
        """Second step: a TOTP code (or a recovery code) for a pending login."""
        now = self._d.clock.now()
        with transaction(self._d.sessions) as session:
            pending = session.scalars(
                select(PendingLogin).where(PendingLogin.token_hash == token_hash(pending_token))
            ).one_or_none()
            if pending is None or pending.used_at is not None or pending.expires_at <= now:
                raise InvalidCredentials("The login has expired; start again.")
            user_id = pending.user_id
        account, ip = account_user_key(user_id), ip_key(ctx.ip)
        self._check_locks(account, ip)

        with transaction(self._d.sessions) as session:
            user = session.get(User, user_id)
            if user is None or not user.is_active:
                raise InvalidCredentials("The login has expired; start again.")
            kind = self._totp.verify(session, user, code)
            if kind is not None:
                # Single use: only the request that flips used_at gets the session.
                claimed = session.execute(
                    update(PendingLogin)
                    .where(PendingLogin.id == pending.id, PendingLogin.used_at.is_(None))
                    .values(used_at=now)
                    .execution_options(synchronize_session=False)
                )
                if getattr(claimed, "rowcount", 0) != 1:
                    raise InvalidCredentials("The login has expired; start again.")
                grant = self._open_session(session, user, ctx)
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="auth.login",
                    actor=Actor.user(user.id),
                    object_type="user",
                    object_id=user.id,
                    details={"second_factor": kind},
                )
            else:
                # Attempt-limited: after a few wrong codes the pending login is spent.
                session.execute(
                    update(PendingLogin)
                    .where(PendingLogin.id == pending.id)
                    .values(attempts=PendingLogin.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                attempts = session.scalar(select(PendingLogin.attempts).where(PendingLogin.id == pending.id))
                if (attempts or 0) >= PENDING_LOGIN_MAX_ATTEMPTS:
                    session.execute(
                        update(PendingLogin)
                        .where(PendingLogin.id == pending.id)
                        .values(used_at=now)
                        .execution_options(synchronize_session=False)
                    )
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="auth.login_failed",
                    actor=Actor.anonymous(),
                    object_type="user",
                    object_id=user.id,
                    details={"reason_code": "bad_second_factor"},
                )
        if kind is None:
            self._count_failure(account, ip, ctx, user_id)
            raise InvalidTotp("The code is not valid.")
        self._d.throttle.reset(account)
        return grant

    # --- sessions -----------------------------------------------------------------------------

    def _open_session(self, session: Session, user: User, ctx: RequestContext) -> SessionGrant:
        token = new_secret_token()
        now = self._d.clock.now()
        ttl = self._d.settings.session_ttl_seconds
        session.add(
            AuthSession(
                user_id=user.id,
                token_hash=token_hash(token),
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(seconds=ttl),
                ip=ctx.ip[:64] if ctx.ip else None,
                user_agent=ctx.user_agent[:512] if ctx.user_agent else None,
            )
        )
        return SessionGrant(user.id, token, derive_csrf_token(token), ttl)

    def authenticate_session(self, session_token: str) -> Principal:
        """The principal behind a session cookie; :class:`SessionInvalid` when there is none."""
        now = self._d.clock.now()
        with transaction(self._d.sessions) as session:
            row = session.scalars(
                select(AuthSession).where(AuthSession.token_hash == token_hash(session_token))
            ).one_or_none()
            if (
                row is None
                or row.revoked_at is not None
                or row.expires_at <= now
                or row.last_seen_at + SESSION_IDLE_TIMEOUT <= now
            ):
                raise SessionInvalid("Not logged in, or the session has expired.")
            user = session.get(User, row.user_id)
            if user is None or not user.is_active:
                raise SessionInvalid("Not logged in, or the session has expired.")
            if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
                row.last_seen_at = now
            return Principal.for_session(user.id, user.is_platform_admin, row.id)

    @staticmethod
    def csrf_token(session_token: str) -> str:
        return derive_csrf_token(session_token)

    @staticmethod
    def check_csrf(session_token: str, supplied: str | None) -> None:
        """Cookie-authenticated state changes must echo the session's CSRF token."""
        expected = derive_csrf_token(session_token)
        if not supplied or not hmac.compare_digest(expected.encode(), supplied.encode("utf-8", "replace")):
            raise CsrfFailed("Missing or invalid CSRF token.")

    def logout(self, principal: Principal, ctx: RequestContext) -> None:
        if principal.session_id is None:
            return  # API tokens are revoked through /tokens, not logged out
        with transaction(self._d.sessions) as session:
            session.execute(
                update(AuthSession)
                .where(AuthSession.id == principal.session_id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=self._d.clock.now())
                .execution_options(synchronize_session=False)
            )
            record(
                session,
                ctx,
                self._d.clock,
                action="auth.logout",
                actor=principal.actor,
                object_type="session",
                object_id=principal.session_id,
            )

    def change_password(
        self, principal: Principal, current: str, new: str, ctx: RequestContext
    ) -> SessionGrant:
        """Change the password, end every session of the user (other devices too) and open a new one."""
        principal.require_session()
        account = account_user_key(principal.user_id)
        self._check_locks(account, ip_key(ctx.ip))
        with transaction(self._d.sessions) as session:
            user = session.get(User, principal.user_id)
            if user is None:
                raise SessionInvalid("Not logged in.")
            old_hash = user.password_hash
            identifiers = tuple(i for i in (user.email, user.mobile) if i)
        if not self._d.passwords.verify(old_hash, current):
            self._count_failure(account, ip_key(ctx.ip), ctx, principal.user_id)
            raise InvalidCredentials("The current password is wrong.")
        check_policy(new, identifiers=identifiers)
        new_hash = self._d.passwords.hash(new)
        now = self._d.clock.now()
        with transaction(self._d.sessions) as session:
            user = session.get(User, principal.user_id)
            if user is None or user.password_hash != old_hash:
                raise SessionInvalid("The password was changed meanwhile; log in again.")
            user.password_hash = new_hash
            user.password_changed_at = now
            session.execute(
                update(AuthSession)
                .where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
                .values(revoked_at=now)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(PendingLogin)
                .where(PendingLogin.user_id == user.id, PendingLogin.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            grant = self._open_session(session, user, ctx)
            record(
                session,
                ctx,
                self._d.clock,
                action="auth.password_changed",
                actor=principal.actor,
                object_type="user",
                object_id=user.id,
            )
        return grant
