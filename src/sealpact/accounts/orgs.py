"""Organizations (enterprise accounts), membership and role changes.

Every check here is on permissions (see :mod:`sealpact.accounts.permissions`). An organization the
caller does not belong to answers "not found", never "forbidden", so ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sealpact.accounts.common import AccountsDeps
from sealpact.accounts.errors import LastOwner, SessionInvalid, TotpRequired
from sealpact.accounts.models import Membership, Organization, User
from sealpact.accounts.permissions import Permission, Role, Scope, is_known_role, permissions_of
from sealpact.accounts.principal import Principal
from sealpact.accounts.users import Users
from sealpact.audit import mask_identifier, record
from sealpact.context import RequestContext
from sealpact.db import transaction
from sealpact.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class AlreadyMember(Conflict):
    code = "already_member"


@dataclass(frozen=True)
class MemberView:
    user_id: str
    email: str | None
    mobile: str | None
    role: str
    totp_enabled: bool
    joined_at: datetime


@dataclass(frozen=True)
class OrgView:
    id: str
    name: str
    require_totp: bool
    created_at: datetime
    my_role: str

    @classmethod
    def of(cls, org: Organization, role: str) -> OrgView:
        return cls(org.id, org.name, org.require_totp, org.created_at, role)


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not 1 <= len(name) <= 200:
        raise InvalidInput("An organization name is 1 to 200 characters.")
    return name


def require_org_permission(
    session: Session, principal: Principal, organization_id: str, permission: Permission
) -> Membership:
    """The caller's membership, if it grants ``permission``; for use by every org-scoped service.

    Not a member -> :class:`NotFound`; the org requires TOTP and the caller has none ->
    :class:`TotpRequired` (not for an organization API key, whose signed request is the credential);
    the role lacks the permission -> :class:`PermissionDenied`. An organization API key only ever
    reaches its own organization; any other answers :class:`NotFound`.
    """
    if principal.organization_id is not None and principal.organization_id != organization_id:
        raise NotFound("Organization not found.")
    membership = session.scalars(
        select(Membership).where(
            Membership.organization_id == organization_id, Membership.user_id == principal.user_id
        )
    ).one_or_none()
    org = session.get(Organization, organization_id) if membership is not None else None
    if membership is None or org is None:
        raise NotFound("Organization not found.")
    if org.require_totp and principal.api_key_id is None:  # a key is its own second factor
        user = session.get(User, principal.user_id)
        if user is None or user.totp_secret_enc is None:
            raise TotpRequired("This organization requires two-factor authentication; enable TOTP first.")
    if permission not in permissions_of(membership.role):
        raise PermissionDenied("Your role in this organization does not allow this.")
    return membership


class Orgs:
    def __init__(self, deps: AccountsDeps) -> None:
        self._d = deps

    def create(self, principal: Principal, name: str, ctx: RequestContext) -> OrgView:
        principal.require_scope(Scope.WRITE)
        name = _clean_name(name)
        now = self._d.clock.now()
        with transaction(self._d.sessions) as session:
            if session.get(User, principal.user_id) is None:
                raise SessionInvalid("Not logged in.")
            org = Organization(name=name, require_totp=False, created_at=now, created_by=principal.user_id)
            session.add(org)
            session.flush()
            session.add(
                Membership(organization_id=org.id, user_id=principal.user_id, role=Role.OWNER, created_at=now)
            )
            record(
                session,
                ctx,
                self._d.clock,
                action="org.created",
                actor=principal.actor,
                object_type="organization",
                object_id=org.id,
                organization_id=org.id,
            )
            return OrgView.of(org, Role.OWNER)

    def list_mine(self, principal: Principal) -> list[OrgView]:
        principal.require_scope(Scope.READ)
        with transaction(self._d.sessions) as session:
            query = (
                select(Organization, Membership.role)
                .join(Membership, Membership.organization_id == Organization.id)
                .where(Membership.user_id == principal.user_id)
                .order_by(Organization.created_at, Organization.id)
            )
            if principal.organization_id is not None:  # an organization API key sees its own only
                query = query.where(Organization.id == principal.organization_id)
            rows = session.execute(query).all()
            return [OrgView.of(org, role) for org, role in rows]

    def get(self, principal: Principal, organization_id: str) -> OrgView:
        principal.require_scope(Scope.READ)
        with transaction(self._d.sessions) as session:
            membership = require_org_permission(session, principal, organization_id, Permission.ORG_VIEW)
            org = session.get(Organization, organization_id)
            assert org is not None  # checked by require_org_permission
            return OrgView.of(org, membership.role)

    def members(self, principal: Principal, organization_id: str) -> list[MemberView]:
        principal.require_scope(Scope.READ)
        with transaction(self._d.sessions) as session:
            require_org_permission(session, principal, organization_id, Permission.MEMBERS_VIEW)
            rows = session.execute(
                select(Membership, User)
                .join(User, User.id == Membership.user_id)
                .where(Membership.organization_id == organization_id)
                .order_by(Membership.created_at, User.id)
            ).all()
            return [
                MemberView(u.id, u.email, u.mobile, m.role, u.totp_enabled_at is not None, m.created_at)
                for m, u in rows
            ]

    def update(
        self,
        principal: Principal,
        organization_id: str,
        ctx: RequestContext,
        *,
        name: str | None = None,
        require_totp: bool | None = None,
    ) -> OrgView:
        principal.require_scope(Scope.WRITE)
        with transaction(self._d.sessions) as session:
            membership = require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
            org = session.get(Organization, organization_id)
            assert org is not None
            changed: dict[str, object] = {}
            if name is not None and _clean_name(name) != org.name:
                org.name = _clean_name(name)
                changed["name"] = org.name
            if require_totp is not None and require_totp != org.require_totp:
                if require_totp:
                    # Whoever turns it on must have TOTP, or they would lock themselves out first.
                    user = session.get(User, principal.user_id)
                    if user is None or user.totp_secret_enc is None:
                        raise TotpRequired("Enable two-factor authentication before requiring it.")
                org.require_totp = require_totp
                changed["require_totp"] = require_totp
            if changed:
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="org.updated",
                    actor=principal.actor,
                    object_type="organization",
                    object_id=org.id,
                    organization_id=org.id,
                    details=changed,
                )
            return OrgView.of(org, membership.role)

    def _check_role(self, role: str) -> str:
        if not is_known_role(role):
            raise InvalidInput("Unknown role.")
        return role

    def _target(self, session: Session, organization_id: str, user_id: str) -> Membership:
        target = session.scalars(
            select(Membership).where(
                Membership.organization_id == organization_id, Membership.user_id == user_id
            )
        ).one_or_none()
        if target is None:
            raise NotFound("Member not found.")
        return target

    def _owner_count(self, session: Session, organization_id: str) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
            )
            or 0
        )

    def _require_owner_rights(self, actor_membership: Membership, *roles: str) -> None:
        if Role.OWNER in roles and Permission.OWNERS_MANAGE not in permissions_of(actor_membership.role):
            raise PermissionDenied("Only an owner can grant or take away the owner role.")

    def add_member(
        self, principal: Principal, organization_id: str, identifier: str, role: str, ctx: RequestContext
    ) -> MemberView:
        """Add an existing account (by email or mobile) with ``role``."""
        principal.require_scope(Scope.ADMIN)
        role = self._check_role(role)
        now = self._d.clock.now()
        with transaction(self._d.sessions) as session:
            mine = require_org_permission(session, principal, organization_id, Permission.MEMBERS_MANAGE)
            self._require_owner_rights(mine, role)
            user = Users.find(session, identifier)
            exists = session.scalars(
                select(Membership.id).where(
                    Membership.organization_id == organization_id, Membership.user_id == user.id
                )
            ).first()
            if exists is not None:
                raise AlreadyMember("That account is already a member.")
            membership = Membership(
                organization_id=organization_id, user_id=user.id, role=role, created_at=now
            )
            session.add(membership)
            record(
                session,
                ctx,
                self._d.clock,
                action="org.member_added",
                actor=principal.actor,
                object_type="user",
                object_id=user.id,
                organization_id=organization_id,
                details={"role": role, "identifier": mask_identifier(user.email or user.mobile or "")},
            )
            return MemberView(user.id, user.email, user.mobile, role, user.totp_enabled_at is not None, now)

    def change_role(
        self, principal: Principal, organization_id: str, user_id: str, role: str, ctx: RequestContext
    ) -> MemberView:
        principal.require_scope(Scope.ADMIN)
        role = self._check_role(role)
        with transaction(self._d.sessions) as session:
            mine = require_org_permission(session, principal, organization_id, Permission.MEMBERS_MANAGE)
            target = self._target(session, organization_id, user_id)
            old = target.role
            self._require_owner_rights(mine, role, old)
            if old == Role.OWNER and role != Role.OWNER and self._owner_count(session, organization_id) <= 1:
                raise LastOwner("An organization needs at least one owner.")
            if old != role:
                target.role = role
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="org.member_role_changed",
                    actor=principal.actor,
                    object_type="user",
                    object_id=user_id,
                    organization_id=organization_id,
                    details={"from": old, "to": role},
                )
            user = session.get(User, user_id)
            assert user is not None
            return MemberView(
                user.id, user.email, user.mobile, role, user.totp_enabled_at is not None, target.created_at
            )

    def remove_member(
        self, principal: Principal, organization_id: str, user_id: str, ctx: RequestContext
    ) -> None:
        """Owners/admins remove others; any member may leave (remove themselves)."""
        principal.require_scope(Scope.ADMIN)
        with transaction(self._d.sessions) as session:
            leaving = user_id == principal.user_id
            mine = require_org_permission(
                session,
                principal,
                organization_id,
                Permission.ORG_VIEW if leaving else Permission.MEMBERS_MANAGE,
            )
            target = self._target(session, organization_id, user_id)
            if not leaving:
                self._require_owner_rights(mine, target.role)
            if target.role == Role.OWNER and self._owner_count(session, organization_id) <= 1:
                raise LastOwner("An organization needs at least one owner.")
            session.delete(target)
            record(
                session,
                ctx,
                self._d.clock,
                action="org.member_removed",
                actor=principal.actor,
                object_type="user",
                object_id=user_id,
                organization_id=organization_id,
                details={"role": target.role, "left": leaving},
            )
