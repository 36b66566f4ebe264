"""/api/v1/signing: the signer's side, behind a signing link. Translation only.

The link token is exchanged once for a signer session token, sent back in ``X-Signing-Session``.
An account-login party's link is opened with their login (cookie or bearer) present.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from sealpact.accounts.errors import SessionInvalid
from sealpact.accounts.principal import Principal
from sealpact.context import RequestContext
from sealpact.errors import InvalidInput
from sealpact.runtime import Runtime
from sealpact.storage.service import BlobReader
from sealpact.web.auth import CSRF_HEADER, session_token_of
from sealpact.web.deps import get_context, get_runtime

router = APIRouter(prefix="/api/v1/signing", tags=["signing"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
SessionToken = Annotated[str, Header(alias="X-Signing-Session", max_length=128)]


class OpenIn(BaseModel):
    token: str = Field(min_length=1, max_length=128)


class CodeIn(BaseModel):
    code: str = Field(min_length=4, max_length=16)


class SignIn(BaseModel):
    pin: str = Field(min_length=4, max_length=64)
    fields: dict[str, str] = Field(default_factory=dict, description="Text/checkbox values by field id")
    signature_png: str | None = Field(
        default=None, max_length=8 << 20, description="Base64 PNG of a drawn signature (optional)"
    )


class ApproveIn(BaseModel):
    fields: dict[str, str] = Field(default_factory=dict, description="Text/checkbox values by field id")


class DeclineIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


def _optional_principal(request: Request, runtime: RuntimeDep) -> Principal | None:
    """The logged-in user if any (account-login parties need one; the service decides)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise SessionInvalid("Use 'Authorization: Bearer <API token>'.")
        return runtime.accounts.tokens.authenticate(credentials.strip())
    token = session_token_of(request)
    if token is None:
        return None
    principal = runtime.accounts.auth.authenticate_session(token)
    runtime.accounts.auth.check_csrf(token, request.headers.get(CSRF_HEADER))
    return principal


@router.post("/open", status_code=status.HTTP_201_CREATED, summary="Exchange a single-use link token")
def open_link(
    body: OpenIn,
    runtime: RuntimeDep,
    ctx: ContextDep,
    principal: Annotated[Principal | None, Depends(_optional_principal)],
) -> dict[str, Any]:
    return asdict(runtime.signing_flow.open_link(body.token, ctx, principal))


@router.post("/authenticate", status_code=status.HTTP_204_NO_CONTENT, summary="Enter the code sent to you")
def authenticate(body: CodeIn, token: SessionToken, runtime: RuntimeDep, ctx: ContextDep) -> None:
    runtime.signing_flow.authenticate(token, body.code, ctx)


@router.get("/contract", summary="The contract as this party sees it (records party.viewed)")
def view(token: SessionToken, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    return asdict(runtime.signing_flow.view(token, ctx))


def _pdf(reader: BlobReader, filename: str) -> StreamingResponse:
    def body() -> Iterator[bytes]:
        with reader:
            yield from reader.chunks()

    return StreamingResponse(
        body(),
        media_type="application/pdf",
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "cache-control": "private, no-store",
        },
    )


@router.get(
    "/documents/{document_id}/content",
    summary="Download a document of this contract (current revision)",
    response_class=StreamingResponse,
)
def document(document_id: str, token: SessionToken, runtime: RuntimeDep) -> StreamingResponse:
    info, reader = runtime.signing_flow.open_document(token, document_id)
    return _pdf(reader, info.filename)


@router.get(
    "/documents/{document_id}/pages/{page}",
    summary="A page rendered to PNG, watermarked with your masked identity",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def page_image(
    document_id: str,
    page: int,
    token: SessionToken,
    runtime: RuntimeDep,
    scale: Annotated[float, Query(ge=0.5, le=3.0)] = 1.5,
) -> Response:
    png = runtime.signing_flow.render_page(token, document_id, page, scale=scale)
    return Response(png, media_type="image/png", headers={"cache-control": "private, no-store"})


@router.get(
    "/certificate",
    summary="The certificate of completion (completed contracts)",
    response_class=StreamingResponse,
)
def certificate(token: SessionToken, runtime: RuntimeDep) -> StreamingResponse:
    return _pdf(runtime.signing_flow.open_certificate(token), "certificate-of-completion.pdf")


@router.post("/intent/code", summary="Send the intent-confirmation code (checks turn and verification level)")
def intent_code(token: SessionToken, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, str | None]:
    return {"sent_to": runtime.signing_flow.request_intent_code(token, ctx)}


@router.post("/intent/confirm", status_code=status.HTTP_204_NO_CONTENT, summary="Confirm the intent to sign")
def intent_confirm(body: CodeIn, token: SessionToken, runtime: RuntimeDep, ctx: ContextDep) -> None:
    runtime.signing_flow.confirm_intent(token, body.code, ctx)


@router.post("/sign", summary="Sign with your PIN (after confirming intent); idempotent per party")
def sign(body: SignIn, token: SessionToken, runtime: RuntimeDep, ctx: ContextDep) -> dict[str, Any]:
    image = None
    if body.signature_png is not None:
        try:
            image = base64.b64decode(body.signature_png, validate=True)
        except ValueError:
            raise InvalidInput("signature_png is not base64.") from None
    return asdict(runtime.signing_flow.sign(token, body.pin, ctx, image_png=image, values=body.fields))


@router.post("/decline", status_code=status.HTTP_204_NO_CONTENT, summary="Decline, with a reason")
def decline(body: DeclineIn, token: SessionToken, runtime: RuntimeDep, ctx: ContextDep) -> None:
    runtime.signing_flow.decline(token, body.reason, ctx)


@router.post("/approve", status_code=status.HTTP_204_NO_CONTENT, summary="Approve (approver parties)")
def approve(token: SessionToken, runtime: RuntimeDep, ctx: ContextDep, body: ApproveIn | None = None) -> None:
    runtime.signing_flow.approve(token, ctx, values=body.fields if body else None)
