"""What the accounts services share: their dependencies, token hashing, user lookup."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sealpact.accounts.identifiers import Identifier
from sealpact.accounts.models import User
from sealpact.accounts.passwords import Passwords
from sealpact.accounts.throttle import Limit, ThrottleStore
from sealpact.clock import Clock
from sealpact.config import Settings

TOTP_PURPOSE = "accounts.totp"


class FieldEncryption(Protocol):
    """The part of :class:`sealpact.storage.fields.FieldCipher` the accounts domain uses."""

    def encrypt(self, plaintext: str, *, purpose: str, session: Session | None = None) -> str: ...

    def decrypt(self, token: str, *, purpose: str, session: Session | None = None) -> str: ...


@dataclass(frozen=True)
class AccountsDeps:
    sessions: sessionmaker[Session]
    settings: Settings
    clock: Clock
    fields: FieldEncryption
    throttle: ThrottleStore
    passwords: Passwords

    @property
    def account_limit(self) -> Limit:
        s = self.settings
        return Limit(s.login_max_failures, s.login_window_seconds, s.login_lockout_seconds)

    @property
    def ip_limit(self) -> Limit:
        s = self.settings
        return Limit(s.login_ip_max_failures, s.login_window_seconds, s.login_lockout_seconds)


def new_secret_token(prefix: str = "") -> str:
    """256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 of a high-entropy token: enough for lookup, and a stolen table reveals no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def derive_csrf_token(session_token: str) -> str:
    """The CSRF token of a session, derived from its (secret) cookie value: no extra state to keep."""
    return hmac.new(session_token.encode("utf-8"), b"sealpact/csrf/v1", hashlib.sha256).hexdigest()


def user_by_identifier(session: Session, identifier: Identifier) -> User | None:
    column = User.email if identifier.kind == "email" else User.mobile
    return session.scalars(select(User).where(column == identifier.value)).one_or_none()


def display_identifier(user: User) -> str:
    return user.email or user.mobile or user.id
