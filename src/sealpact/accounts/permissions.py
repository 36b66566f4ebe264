"""Organization roles as sets of permissions, and API-token scopes.

Services check *permissions*, never role names, so adding a role (legal, seal keeper, an
organization's custom role) means adding a name -> permission set, not touching the checks.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    ORG_VIEW = "org.view"
    ORG_MANAGE = "org.manage"  # rename, security settings such as require_totp
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"  # add, change role of, remove non-owner members
    OWNERS_MANAGE = "owners.manage"  # grant or take away the owner role


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


_MEMBER = frozenset({Permission.ORG_VIEW, Permission.MEMBERS_VIEW})
_ADMIN = _MEMBER | {Permission.ORG_MANAGE, Permission.MEMBERS_MANAGE}
_OWNER = _ADMIN | {Permission.OWNERS_MANAGE}

BUILTIN_ROLES: dict[str, frozenset[Permission]] = {
    Role.OWNER: _OWNER,
    Role.ADMIN: _ADMIN,
    Role.MEMBER: _MEMBER,
}


def permissions_of(role: str) -> frozenset[Permission]:
    """The permissions of a role name; unknown names grant nothing (fail closed)."""
    return BUILTIN_ROLES.get(role, frozenset())


def is_known_role(role: str) -> bool:
    return role in BUILTIN_ROLES


class Scope(StrEnum):
    """What an API token may do. Later domains add scopes (e.g. ``contracts:sign``) here."""

    READ = "read"  # GET-style access to the owner's data
    WRITE = "write"  # state changes on the owner's data
    ADMIN = "admin"  # account administration: API tokens, organization membership


# A scope implies others: holding ``admin`` satisfies a ``write`` or ``read`` requirement.
SCOPE_IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset(),
    Scope.WRITE: frozenset({Scope.READ}),
    Scope.ADMIN: frozenset({Scope.WRITE, Scope.READ}),
}

ALL_SCOPES: frozenset[Scope] = frozenset(Scope)


def expand_scopes(scopes: frozenset[Scope]) -> frozenset[Scope]:
    expanded = set(scopes)
    for scope in scopes:
        expanded |= SCOPE_IMPLIES[scope]
    return frozenset(expanded)


def parse_scopes(text: str) -> frozenset[Scope]:
    """Space-separated scope names (unknown names from an older/newer version are ignored)."""
    known = {s.value for s in Scope}
    return frozenset(Scope(name) for name in text.split() if name in known)
