"""/api/v1 auth, API tokens and organizations: HTTP <-> accounts services, nothing more."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sealpact.accounts.auth import SecondFactorNeeded, SessionGrant
from sealpact.accounts.orgs import MemberView, OrgView
from sealpact.accounts.permissions import Scope
from sealpact.accounts.tokens import TokenView
from sealpact.accounts.users import UserView
from sealpact.context import RequestContext
from sealpact.runtime import Runtime
from sealpact.web.auth import (
    AdminPrincipal,
    CurrentPrincipal,
    ReadPrincipal,
    WritePrincipal,
    clear_session_cookie,
    session_token_of,
    set_session_cookie,
)
from sealpact.web.deps import get_context, get_runtime

router = APIRouter(prefix="/api/v1")

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Code = Annotated[str, Field(min_length=1, max_length=32, description="6-digit TOTP code or a recovery code")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- models -------------------------------------------------------------------------------------


class RegisterIn(_In):
    email: str | None = Field(default=None, max_length=320)
    mobile: str | None = Field(default=None, max_length=32, description="Mainland China mobile, +86 optional")
    password: Password

    @model_validator(mode="after")
    def _one_identifier(self) -> RegisterIn:
        if (self.email is None) == (self.mobile is None):
            raise ValueError("give exactly one of email or mobile")
        return self


class UserOut(BaseModel):
    id: str
    email: str | None
    mobile: str | None
    is_platform_admin: bool
    totp_enabled: bool
    created_at: datetime

    @classmethod
    def of(cls, view: UserView) -> UserOut:
        return cls(**view.__dict__)


class LoginIn(_In):
    identifier: str = Field(min_length=1, max_length=320, description="Email address or mobile number")
    password: Password


class LoginTotpIn(_In):
    pending_token: str = Field(min_length=1, max_length=128)
    code: Code


class LoginOut(BaseModel):
    status: Literal["ok", "totp_required"]
    user_id: str | None = None
    csrf_token: str | None = Field(default=None, description="Send as X-CSRF-Token on state changes")
    pending_token: str | None = Field(default=None, description="Send to /auth/login/totp with the code")
    expires_in: int | None = None


class SessionOut(BaseModel):
    user: UserOut
    via: Literal["session", "token"]
    scopes: list[str]
    csrf_token: str | None


class PasswordIn(_In):
    current_password: Password
    new_password: Password


class TotpEnrollOut(BaseModel):
    secret: str
    otpauth_uri: str


class TotpCodeIn(_In):
    code: Code


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class TokenIn(_In):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, view: TokenView) -> TokenOut:
        return cls(**{**view.__dict__, "scopes": list(view.scopes)})


class CreatedTokenOut(TokenOut):
    token: str = Field(description="The secret; shown only now")


class OrgIn(_In):
    name: str = Field(min_length=1, max_length=200)


class OrgPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    require_totp: bool | None = None


class OrgOut(BaseModel):
    id: str
    name: str
    require_totp: bool
    created_at: datetime
    my_role: str

    @classmethod
    def of(cls, view: OrgView) -> OrgOut:
        return cls(**view.__dict__)


class MemberIn(_In):
    identifier: str = Field(
        min_length=1, max_length=320, description="Email or mobile of an existing account"
    )
    role: str = Field(min_length=1, max_length=64)


class RoleIn(_In):
    role: str = Field(min_length=1, max_length=64)


class MemberOut(BaseModel):
    user_id: str
    email: str | None
    mobile: str | None
    role: str
    totp_enabled: bool
    joined_at: datetime

    @classmethod
    def of(cls, view: MemberView) -> MemberOut:
        return cls(**view.__dict__)


def _login_out(result: SessionGrant | SecondFactorNeeded, response: Response, runtime: Runtime) -> LoginOut:
    if isinstance(result, SecondFactorNeeded):
        return LoginOut(
            status="totp_required", pending_token=result.pending_token, expires_in=result.expires_in_seconds
        )
    set_session_cookie(response, result, runtime.settings)
    return LoginOut(status="ok", user_id=result.user_id, csrf_token=result.csrf_token)


# --- auth ---------------------------------------------------------------------------------------


@router.post(
    "/auth/register", status_code=status.HTTP_201_CREATED, tags=["auth"], summary="Create an account"
)
def register(body: RegisterIn, runtime: RuntimeDep, ctx: ContextDep) -> UserOut:
    identifier = body.email if body.email is not None else body.mobile
    assert identifier is not None  # guaranteed by RegisterIn
    return UserOut.of(runtime.accounts.users.register(identifier, body.password, ctx))


@router.post("/auth/login", tags=["auth"], summary="Log in with a password (first step)")
def login(body: LoginIn, response: Response, runtime: RuntimeDep, ctx: ContextDep) -> LoginOut:
    return _login_out(runtime.accounts.auth.login(body.identifier, body.password, ctx), response, runtime)


@router.post("/auth/login/totp", tags=["auth"], summary="Second login step: TOTP or recovery code")
def login_totp(body: LoginTotpIn, response: Response, runtime: RuntimeDep, ctx: ContextDep) -> LoginOut:
    grant = runtime.accounts.auth.login_second_factor(body.pending_token, body.code, ctx)
    return _login_out(grant, response, runtime)


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], summary="End this session"
)
def logout(principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> Response:
    runtime.accounts.auth.logout(principal, ctx)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, runtime.settings)
    return response


@router.get("/auth/session", tags=["auth"], summary="Who am I, and the CSRF token of this session")
def current_session(principal: ReadPrincipal, request: Request, runtime: RuntimeDep) -> SessionOut:
    token = session_token_of(request) if principal.via == "session" else None
    return SessionOut(
        user=UserOut.of(runtime.accounts.users.get(principal.user_id)),
        via=principal.via,
        scopes=sorted(s.value for s in principal.scopes),
        csrf_token=runtime.accounts.auth.csrf_token(token) if token else None,
    )


@router.post("/auth/password", tags=["auth"], summary="Change password (ends every session, opens a new one)")
def change_password(
    body: PasswordIn, principal: CurrentPrincipal, response: Response, runtime: RuntimeDep, ctx: ContextDep
) -> LoginOut:
    grant = runtime.accounts.auth.change_password(principal, body.current_password, body.new_password, ctx)
    return _login_out(grant, response, runtime)


@router.post("/auth/totp/enroll", tags=["auth"], summary="Start TOTP enrolment (secret shown once)")
def totp_enroll(principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> TotpEnrollOut:
    enrollment = runtime.accounts.two_factor.enroll(principal, ctx)
    return TotpEnrollOut(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri)


@router.post(
    "/auth/totp/confirm", tags=["auth"], summary="Enable TOTP with a first code; returns recovery codes"
)
def totp_confirm(
    body: TotpCodeIn, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> RecoveryCodesOut:
    return RecoveryCodesOut(recovery_codes=runtime.accounts.two_factor.confirm(principal, body.code, ctx))


@router.post(
    "/auth/totp/disable", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], summary="Disable TOTP"
)
def totp_disable(body: TotpCodeIn, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> None:
    runtime.accounts.two_factor.disable(principal, body.code, ctx)


@router.post("/auth/totp/recovery-codes", tags=["auth"], summary="Replace the recovery codes")
def totp_recovery_codes(
    body: TotpCodeIn, principal: CurrentPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> RecoveryCodesOut:
    codes = runtime.accounts.two_factor.regenerate_recovery_codes(principal, body.code, ctx)
    return RecoveryCodesOut(recovery_codes=codes)


# --- API tokens ---------------------------------------------------------------------------------


@router.post("/tokens", status_code=status.HTTP_201_CREATED, tags=["tokens"], summary="Create an API token")
def create_token(
    body: TokenIn, principal: AdminPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> CreatedTokenOut:
    expires_at = (
        runtime.clock.now() + timedelta(days=body.expires_in_days)
        if body.expires_in_days is not None
        else None
    )
    created = runtime.accounts.tokens.create(
        principal, body.name, frozenset(body.scopes), ctx, expires_at=expires_at
    )
    return CreatedTokenOut(**TokenOut.of(created.view).model_dump(), token=created.token)


@router.get("/tokens", tags=["tokens"], summary="List my API tokens (never their secrets)")
def list_tokens(principal: AdminPrincipal, runtime: RuntimeDep) -> list[TokenOut]:
    return [TokenOut.of(view) for view in runtime.accounts.tokens.list(principal)]


@router.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke an API token")
def revoke_token(token_id: str, principal: AdminPrincipal, runtime: RuntimeDep, ctx: ContextDep) -> TokenOut:
    return TokenOut.of(runtime.accounts.tokens.revoke(principal, token_id, ctx))


# --- organizations ------------------------------------------------------------------------------


@router.post("/orgs", status_code=status.HTTP_201_CREATED, tags=["orgs"], summary="Create an organization")
def create_org(body: OrgIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep) -> OrgOut:
    return OrgOut.of(runtime.accounts.orgs.create(principal, body.name, ctx))


@router.get("/orgs", tags=["orgs"], summary="Organizations I belong to")
def list_orgs(principal: ReadPrincipal, runtime: RuntimeDep) -> list[OrgOut]:
    return [OrgOut.of(view) for view in runtime.accounts.orgs.list_mine(principal)]


@router.get("/orgs/{org_id}", tags=["orgs"], summary="One organization")
def get_org(org_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> OrgOut:
    return OrgOut.of(runtime.accounts.orgs.get(principal, org_id))


@router.patch("/orgs/{org_id}", tags=["orgs"], summary="Rename or change security settings (owner/admin)")
def update_org(
    org_id: str, body: OrgPatch, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> OrgOut:
    view = runtime.accounts.orgs.update(
        principal, org_id, ctx, name=body.name, require_totp=body.require_totp
    )
    return OrgOut.of(view)


@router.get("/orgs/{org_id}/members", tags=["orgs"], summary="Members and their roles")
def list_members(org_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> list[MemberOut]:
    return [MemberOut.of(view) for view in runtime.accounts.orgs.members(principal, org_id)]


@router.post(
    "/orgs/{org_id}/members",
    status_code=status.HTTP_201_CREATED,
    tags=["orgs"],
    summary="Add an existing account as a member (owner/admin)",
)
def add_member(
    org_id: str, body: MemberIn, principal: AdminPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> MemberOut:
    return MemberOut.of(runtime.accounts.orgs.add_member(principal, org_id, body.identifier, body.role, ctx))


@router.patch(
    "/orgs/{org_id}/members/{user_id}", tags=["orgs"], summary="Change a member's role (owner/admin)"
)
def change_role(
    org_id: str, user_id: str, body: RoleIn, principal: AdminPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> MemberOut:
    return MemberOut.of(runtime.accounts.orgs.change_role(principal, org_id, user_id, body.role, ctx))


@router.delete(
    "/orgs/{org_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["orgs"],
    summary="Remove a member (owner/admin), or leave",
)
def remove_member(
    org_id: str, user_id: str, principal: AdminPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> None:
    runtime.accounts.orgs.remove_member(principal, org_id, user_id, ctx)
