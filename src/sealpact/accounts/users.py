"""Registering users (self-service, CLI, the first platform admin) and reading their profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealpact.accounts.common import AccountsDeps, user_by_identifier
from sealpact.accounts.errors import AlreadyRegistered, UserNotFound
from sealpact.accounts.identifiers import parse_identifier
from sealpact.accounts.models import User
from sealpact.accounts.passwords import check_policy
from sealpact.audit import Actor, mask_identifier, record
from sealpact.context import RequestContext
from sealpact.db import transaction


@dataclass(frozen=True)
class UserView:
    id: str
    email: str | None
    mobile: str | None
    is_platform_admin: bool
    totp_enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            user.id,
            user.email,
            user.mobile,
            user.is_platform_admin,
            user.totp_enabled_at is not None,
            user.created_at,
        )


class Users:
    def __init__(self, deps: AccountsDeps) -> None:
        self._d = deps

    def register(
        self,
        identifier: str,
        password: str,
        ctx: RequestContext,
        *,
        platform_admin: bool = False,
        actor: Actor | None = None,
    ) -> UserView:
        """Create an account for an email address or mainland mobile number.

        Raises :class:`InvalidIdentifier`, :class:`WeakPassword` or :class:`AlreadyRegistered`.
        """
        ident = parse_identifier(identifier)
        check_policy(password, identifiers=(ident.value, identifier.strip()))
        # Hash before opening the transaction: Argon2 takes a while and must not hold a write lock.
        password_hash = self._d.passwords.hash(password)
        now = self._d.clock.now()
        try:
            with transaction(self._d.sessions) as session:
                if user_by_identifier(session, ident) is not None:
                    raise AlreadyRegistered("An account with this identifier already exists.")
                user = User(
                    email=ident.value if ident.kind == "email" else None,
                    mobile=ident.value if ident.kind == "mobile" else None,
                    password_hash=password_hash,
                    is_platform_admin=platform_admin,
                    is_active=True,
                    created_at=now,
                    password_changed_at=now,
                )
                session.add(user)
                session.flush()
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="user.registered",
                    actor=actor or Actor.user(user.id),
                    object_type="user",
                    object_id=user.id,
                    details={
                        "identifier": mask_identifier(ident.value),
                        "kind": ident.kind,
                        "platform_admin": platform_admin,
                    },
                )
                return UserView.of(user)
        except IntegrityError as exc:
            # Two registrations of the same identifier raced; the unique index decided.
            raise AlreadyRegistered("An account with this identifier already exists.") from exc

    def ensure_platform_admin(self, identifier: str, password: str, ctx: RequestContext) -> UserView | None:
        """Create the platform administrator unless that account exists; ``None`` when it did."""
        ident = parse_identifier(identifier)
        with transaction(self._d.sessions) as session:
            if user_by_identifier(session, ident) is not None:
                return None
        return self.register(identifier, password, ctx, platform_admin=True, actor=Actor.system())

    def exists(self, identifier: str) -> bool:
        """Whether an account has this identifier (for operators; raises on a malformed one)."""
        ident = parse_identifier(identifier)
        with transaction(self._d.sessions) as session:
            return user_by_identifier(session, ident) is not None

    def any_platform_admin(self) -> bool:
        with transaction(self._d.sessions) as session:
            return bool(session.scalar(select(exists().where(User.is_platform_admin.is_(True)))))

    def get(self, user_id: str) -> UserView:
        with transaction(self._d.sessions) as session:
            user = session.get(User, user_id)
            if user is None:
                raise UserNotFound("User not found.")
            return UserView.of(user)

    @staticmethod
    def find(session: Session, identifier: str) -> User:
        """The user behind an identifier typed by someone else (e.g. an org admin adding a member)."""
        user = user_by_identifier(session, parse_identifier(identifier))
        if user is None or not user.is_active:
            raise UserNotFound("No account with this identifier.")
        return user
