"""/api/v1/custody: the signer's own key — set a signing PIN, change it, reset it after re-verification.

HTTP <-> ``runtime.custody``, nothing more. PINs arrive in request bodies only, are never echoed (the
validation handler names fields, not values) and never logged. Only a person's login (a session or their
own token) may manage a key: an organization API key is nobody's signature, so it is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from sealpact.accounts.principal import Principal
from sealpact.context import RequestContext
from sealpact.custody.service import KeyInfo, Subject
from sealpact.errors import PermissionDenied
from sealpact.runtime import Runtime
from sealpact.web.auth import ReadPrincipal, WritePrincipal
from sealpact.web.deps import get_context, get_runtime

router = APIRouter()
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
Pin = Annotated[str, Field(max_length=64)]
OrgId = Annotated[str | None, Field(default=None, max_length=36)]
API = "/api/v1/custody"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateIn(_In):
    pin: Pin
    organization_id: OrgId = None


class ChangeIn(_In):
    old_pin: Pin
    new_pin: Pin
    organization_id: OrgId = None


class ResetIn(_In):
    new_pin: Pin
    reverification_started_at: datetime
    organization_id: OrgId = None


def _subject(principal: Principal, organization_id: str | None) -> Subject:
    if principal.api_key_id is not None:
        raise PermissionDenied("Signing keys belong to people; an organization API key cannot hold one.")
    if organization_id is not None:
        return Subject.enterprise(organization_id)
    return Subject.individual(principal.user_id)


def _view(info: KeyInfo) -> dict[str, Any]:
    return {
        "key_id": info.key_id,
        "subject_type": info.subject.type,
        "subject_id": info.subject.id,
        "certificate_serial": info.certificate_serial,
        "status": info.status,
        "failed_attempts": info.failed_attempts,
        "locked": info.locked,
        "created_at": info.created_at.isoformat(),
    }


@router.post(f"{API}/keys", status_code=201, summary="Set a signing PIN: generates and certifies your key")
def create_key(
    body: CreateIn, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    subject = _subject(principal, body.organization_id)
    return _view(
        runtime.custody.create_key(user_id=principal.user_id, pin=body.pin, subject=subject, ctx=ctx)
    )


@router.get(f"{API}/keys", summary="Your signing key (no secrets): certificate, attempts, lock state")
def get_key(
    runtime: RuntimeDep, principal: ReadPrincipal, organization_id: str | None = None
) -> dict[str, Any]:
    subject = _subject(principal, organization_id)
    return _view(runtime.custody.key_info(user_id=principal.user_id, subject=subject))


@router.post(f"{API}/pin/change", summary="Change the signing PIN (needs the current PIN)")
def change_pin(
    body: ChangeIn, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    subject = _subject(principal, body.organization_id)
    info = runtime.custody.change_pin(
        user_id=principal.user_id, old_pin=body.old_pin, new_pin=body.new_pin, subject=subject, ctx=ctx
    )
    return _view(info)


@router.post(
    f"{API}/pin/reset", summary="Forgotten/locked PIN: new key after a fresh identity re-verification"
)
def reset_pin(
    body: ResetIn, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    subject = _subject(principal, body.organization_id)
    info = runtime.custody.reset_pin(
        user_id=principal.user_id,
        new_pin=body.new_pin,
        reverification_started_at=body.reverification_started_at,
        subject=subject,
        ctx=ctx,
    )
    return _view(info)
