"""Who is calling: a user through a browser session or one of their API tokens, or an organization API key.

An organization API key (see :mod:`sealpact.accounts.apikeys`) resolves to ``via="token"`` with
``organization_id`` and ``api_key_id`` set and ``user_id`` the key's own login-less service user: it
acts for that organization only and is never a platform admin.
"""

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
    organization_id: str | None = None  # set for an organization API key: the only org it may act in
    api_key_id: str | None = None  # org_api_keys.id of that key

    @classmethod
    def for_session(cls, user_id: str, is_platform_admin: bool, session_id: str) -> Principal:
        return cls(user_id, is_platform_admin, "session", session_id=session_id)

    @classmethod
    def for_token(
        cls, user_id: str, is_platform_admin: bool, token_id: str, scopes: frozenset[Scope]
    ) -> Principal:
        return cls(user_id, is_platform_admin, "token", token_id=token_id, scopes=expand_scopes(scopes))

    @classmethod
    def for_api_key(
        cls, user_id: str, organization_id: str, api_key_id: str, scopes: frozenset[Scope]
    ) -> Principal:
        return cls(
            user_id,
            False,
            "token",
            scopes=expand_scopes(scopes),
            organization_id=organization_id,
            api_key_id=api_key_id,
        )

    @property
    def actor(self) -> Actor:
        if self.api_key_id is not None:
            return Actor("api_key", self.user_id, self.api_key_id)
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
