"""/api/v1/identity: real-name verification. HTTP <-> ``runtime.identity``, nothing more.

Also the HTML status page (``/identity``), the face-verification return page, the provider callback
(authenticated by its HMAC signature, not by a session), and the embedded sandbox authority mount.
Every response shows personal data masked only.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sealpact.context import RequestContext
from sealpact.identity.records import StatusView, VerificationView
from sealpact.runtime import Runtime
from sealpact.web.auth import CurrentPrincipal, ReadPrincipal, WritePrincipal
from sealpact.web.deps import get_context, get_runtime

router = APIRouter()
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
IdNumber = Annotated[str, Field(min_length=1, max_length=32)]
Mobile = Annotated[str, Field(min_length=1, max_length=24)]
API = "/api/v1/identity"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Id2In(_In):
    name: Name
    id_number: IdNumber


class Mobile3In(Id2In):
    mobile: Mobile


class Bank4In(Mobile3In):
    card_number: Annotated[str, Field(min_length=1, max_length=32)]


class CodeIn(_In):
    code: Annotated[str, Field(min_length=1, max_length=16)]


class EnterpriseIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    credit_code: Annotated[str, Field(min_length=1, max_length=32)]
    legal_rep_name: Name


class DepositIn(_In):
    account_number: Annotated[str, Field(min_length=1, max_length=40)]
    bank_name: Annotated[str, Field(min_length=1, max_length=100)]


class DepositConfirmIn(_In):
    amount: Annotated[str, Field(min_length=1, max_length=16, description="The amount received, e.g. 0.37")]


class LegalRepIn(_In):
    id_number: IdNumber
    mobile: Mobile


def _status(view: StatusView) -> dict[str, Any]:
    return view.to_json()


def _verification(view: VerificationView) -> dict[str, Any]:
    return view.to_json()


@router.get(f"{API}/status", summary="The caller's individual verification status")
def my_status(runtime: RuntimeDep, principal: ReadPrincipal) -> dict[str, Any]:
    return _status(runtime.identity.my_status(principal))


@router.get(
    f"{API}/organizations/{{organization_id}}/status", summary="An organization's verification status"
)
def org_status(runtime: RuntimeDep, principal: ReadPrincipal, organization_id: str) -> dict[str, Any]:
    return _status(runtime.identity.enterprise_status(principal, organization_id))


@router.get(f"{API}/verifications/{{verification_id}}", summary="One verification attempt")
def get_verification(runtime: RuntimeDep, principal: ReadPrincipal, verification_id: str) -> dict[str, Any]:
    return _verification(runtime.identity.verification(principal, verification_id))


@router.post(f"{API}/individual/id2", summary="Two elements: name + resident ID number (level 1)")
def id2(body: Id2In, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep) -> dict[str, Any]:
    return _status(runtime.identity.verify_id2(principal, ctx, name=body.name, id_number=body.id_number))


@router.post(f"{API}/individual/mobile3", summary="Three elements, then an SMS code (level 2)")
def mobile3(
    body: Mobile3In, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    view = runtime.identity.start_mobile3(
        principal, ctx, name=body.name, id_number=body.id_number, mobile=body.mobile
    )
    return _verification(view)


@router.post(f"{API}/individual/bank4", summary="Four elements, then an SMS code (level 2)")
def bank4(body: Bank4In, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep) -> dict[str, Any]:
    view = runtime.identity.start_bank4(
        principal,
        ctx,
        name=body.name,
        id_number=body.id_number,
        card_number=body.card_number,
        mobile=body.mobile,
    )
    return _verification(view)


@router.post(f"{API}/individual/face", summary="Face verification: returns the provider page to redirect to")
def face(body: Id2In, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep) -> dict[str, Any]:
    return _verification(
        runtime.identity.start_face(principal, ctx, name=body.name, id_number=body.id_number)
    )


@router.post(f"{API}/verifications/{{verification_id}}/sms", summary="Confirm the SMS code")
def confirm_sms(
    verification_id: str, body: CodeIn, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    return _verification(runtime.identity.confirm_code(principal, ctx, verification_id, body.code))


@router.post(f"{API}/verifications/{{verification_id}}/poll", summary="Ask the face provider for the result")
def poll(
    verification_id: str, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    return _verification(runtime.identity.poll_face(principal, ctx, verification_id))


@router.post(f"{API}/face/callback/{{verification_id}}", summary="Provider callback (HMAC-signed)")
async def face_callback(
    verification_id: str, request: Request, runtime: RuntimeDep, ctx: ContextDep
) -> Response:
    body = await request.body()
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    path = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(
        runtime.identity.face_callback,
        verification_id,
        ctx,
        method=request.method,
        path=path,
        headers=dict(request.headers),
        body=body,
    )
    return JSONResponse({"ok": True})


@router.post(f"{API}/organizations/{{organization_id}}/enterprise", summary="Enterprise registry check")
def enterprise(
    organization_id: str, body: EnterpriseIn, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    view = runtime.identity.enterprise.start(
        principal,
        ctx,
        organization_id,
        name=body.name,
        credit_code=body.credit_code,
        legal_rep_name=body.legal_rep_name,
    )
    return _verification(view)


@router.post(f"{API}/verifications/{{verification_id}}/deposit", summary="Pay the micro-deposit")
def deposit(
    verification_id: str, body: DepositIn, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    view = runtime.identity.enterprise.request_deposit(
        principal, ctx, verification_id, account_number=body.account_number, bank_name=body.bank_name
    )
    return _verification(view)


@router.post(f"{API}/verifications/{{verification_id}}/deposit/confirm", summary="Enter the amount received")
def deposit_confirm(
    verification_id: str,
    body: DepositConfirmIn,
    runtime: RuntimeDep,
    principal: WritePrincipal,
    ctx: ContextDep,
) -> dict[str, Any]:
    return _verification(
        runtime.identity.enterprise.confirm_deposit(principal, ctx, verification_id, amount=body.amount)
    )


@router.post(
    f"{API}/verifications/{{verification_id}}/legal-rep", summary="Legal representative authorisation"
)
def legal_rep(
    verification_id: str, body: LegalRepIn, runtime: RuntimeDep, principal: WritePrincipal, ctx: ContextDep
) -> dict[str, Any]:
    view = runtime.identity.enterprise.start_legal_rep(
        principal, ctx, verification_id, id_number=body.id_number, mobile=body.mobile
    )
    return _verification(view)


# -- HTML -------------------------------------------------------------------------------------------

_PAGE = (
    "<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>{title}</title></head>"
    "<body><h1>{title}</h1>{body}</body></html>"
)


def render_status(view: StatusView, note: str = "") -> str:
    rows = [
        ("State", view.state),
        ("Level", str(view.level)),
        ("Method", view.method or "-"),
        ("Provider", view.provider or "-"),
        ("Verified at", view.verified_at.isoformat() if view.verified_at else "-"),
        ("Name", view.name or view.enterprise_name or "-"),
        ("ID number", view.id_number or view.credit_code or "-"),
        ("Mobile", view.mobile or "-"),
    ]
    if view.reason:
        rows.append(("Reason", view.reason))
    banner = (
        "<p class='sandbox'><strong>SANDBOX</strong>: verified by the sandbox authority, not a real identity "
        "source. Certificates from it carry the sandbox policy.</p>"
        if view.sandbox
        else ""
    )
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    body = f"{banner}{note}<table>{table}</table>"
    return _PAGE.format(title="Real-name verification", body=body)


@router.get("/identity", response_class=HTMLResponse, include_in_schema=False)
def status_page(runtime: RuntimeDep, principal: CurrentPrincipal) -> HTMLResponse:
    return HTMLResponse(render_status(runtime.identity.my_status(principal)))


@router.get("/identity/organizations/{organization_id}", response_class=HTMLResponse, include_in_schema=False)
def org_status_page(organization_id: str, runtime: RuntimeDep, principal: CurrentPrincipal) -> HTMLResponse:
    return HTMLResponse(render_status(runtime.identity.enterprise_status(principal, organization_id)))


@router.get("/identity/face/return", response_class=HTMLResponse, include_in_schema=False)
def face_return(
    verification: str, runtime: RuntimeDep, principal: CurrentPrincipal, ctx: ContextDep
) -> HTMLResponse:
    view = runtime.identity.poll_face(principal, ctx, verification)
    note = f"<p>Face verification: {html.escape(view.status)}</p>"
    return HTMLResponse(render_status(runtime.identity.my_status(principal), note))


# -- embedded sandbox authority ---------------------------------------------------------------------


def mount_embedded_sandbox(app: FastAPI, runtime: Runtime) -> None:
    """Serve the sandbox authority in-process at /sandbox-authority (development default only)."""
    from sealpact.identity.sandbox import SandboxAuthority, create_sandbox_app
    from sealpact.identity.wiring import EMBEDDED_SANDBOX_PREFIX, provider_secret, sandbox_allowed

    settings = runtime.settings
    if (
        settings.identity_provider != "sandbox"
        or settings.identity_provider_url
        or not sandbox_allowed(settings)
    ):
        return
    authority = SandboxAuthority(
        clients={settings.identity_provider_key_id: provider_secret(settings)}, clock=runtime.clock
    )
    app.mount(EMBEDDED_SANDBOX_PREFIX, create_sandbox_app(authority))
