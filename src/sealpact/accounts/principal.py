"""Who is calling: a user through a browser session or through one of their API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sealpact.accounts.errors import ScopeDenied, SessionRequired
from sealpact.accounts.permissions import ALL_SCOPES, Scope, expand_scopes
from sealpact.audit import Actor


@dataclass(frozen=True)
class Principal:
    user_id: str
    is_platform_admin: bool
    via: Literal["session", "token"]
    session_id: str | None = None
    token_id: str | None = None
    scopes: frozenset[Scope] = ALL_SCOPES  # already expanded (see permissions.SCOPE_IMPLIES)

    @classmethod
    def for_session(cls, user_id: str, is_platform_admin: bool, session_id: str) -> Principal:
        return cls(user_id, is_platform_admin, "session", session_id=session_id)

    @classmethod
    def for_token(
        cls, user_id: str, is_platform_admin: bool, token_id: str, scopes: frozenset[Scope]
    ) -> Principal:
        return cls(user_id, is_platform_admin, "token", token_id=token_id, scopes=expand_scopes(scopes))

    @property
    def actor(self) -> Actor:
        if self.token_id is not None:
            return Actor.api_token(self.user_id, self.token_id)
        return Actor.user(self.user_id)

    def has_scope(self, scope: Scope) -> bool:
        return scope in self.scopes

    def require_scope(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise ScopeDenied(f"This API token lacks the '{scope.value}' scope.")

    def require_session(self) -> None:
        """Password, second-factor and similar changes need the user at a browser, not a token."""
        if self.via != "session":
            raise SessionRequired("This action needs an interactive login session, not an API token.")
