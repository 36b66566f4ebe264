"""/api/v1/contracts (sender), /api/v1/contract-documents (uploads), /api/v1/webhooks. Translation only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from sealpact.context import RequestContext
from sealpact.contracts.errors import DocumentTooLarge
from sealpact.contracts.specs import ContractIn, FieldIn, FromTemplateIn, PartyIn, TemplateIn
from sealpact.runtime import Runtime
from sealpact.web.auth import ReadPrincipal, WritePrincipal
from sealpact.web.deps import get_context, get_runtime
from sealpact.web.routes.files import _body_chunks

router = APIRouter(prefix="/api/v1/contracts", tags=["contracts"])
uploads = APIRouter(prefix="/api/v1/contract-documents", tags=["contracts"])
templates = APIRouter(prefix="/api/v1/contract-templates", tags=["contracts"])
webhooks = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=128, description="Repeat-safe create/send")
]


def _out(value: Any) -> dict[str, Any]:
    return asdict(value)


class PartiesIn(BaseModel):
    parties: list[PartyIn] = Field(max_length=50)


class FieldsIn(BaseModel):
    fields: list[FieldIn] = Field(max_length=500)


class CancelIn(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class RemindIn(BaseModel):
    party_id: str | None = Field(default=None, max_length=36)


class ContactIn(BaseModel):
    email: str | None = Field(default=None, max_length=254)
    mobile: str | None = Field(default=None, max_length=20)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a draft contract")
def create_contract(
    body: ContractIn,
    principal: WritePrincipal,
    runtime: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _out(runtime.contracts.create(principal, ctx, body, idempotency_key=key))


@router.get("", summary="My contracts (or an organization's), newest first, cursor-paginated")
def list_contracts(
    principal: ReadPrincipal,
    runtime: RuntimeDep,
    limit: int = Query(20, ge=1, le=100),
    cursor: str | None = Query(None, max_length=512),
    status_: str | None = Query(None, alias="status", max_length=16),
    organization_id: str | None = Query(None, max_length=36),
) -> dict[str, Any]:
    page = runtime.contracts.list(
        principal, limit=limit, cursor=cursor, status=status_, organization_id=organization_id
    )
    return {"items": [asdict(i) for i in page.items], "next_cursor": page.next_cursor}


@router.get("/{contract_id}", summary="A contract with its documents, parties (contacts masked) and fields")
def get_contract(contract_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    return _out(runtime.contracts.get(principal, contract_id))


@router.get("/{contract_id}/events", summary="The contract's event history")
def contract_events(contract_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> list[dict[str, Any]]:
    return runtime.contracts.events(principal, contract_id)


@router.put("/{contract_id}/parties", summary="Replace the parties of a draft (drops its fields)")
def set_parties(
    contract_id: str, body: PartiesIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    return _out(runtime.contracts.set_parties(principal, ctx, contract_id, body.parties))


@router.put("/{contract_id}/fields", summary="Replace the fields of a draft")
def set_fields(
    contract_id: str, body: FieldsIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    return _out(runtime.contracts.set_fields(principal, ctx, contract_id, body.fields))


@router.post("/{contract_id}/send", summary="Send: freeze the draft and notify the first round")
def send_contract(
    contract_id: str,
    principal: WritePrincipal,
    runtime: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    return _out(runtime.contracts.send(principal, ctx, contract_id, idempotency_key=key))


@router.post("/{contract_id}/cancel", summary="Cancel a draft or an open contract")
def cancel_contract(
    contract_id: str, body: CancelIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    return _out(runtime.contracts.cancel(principal, ctx, contract_id, reason=body.reason))


@router.post("/{contract_id}/remind", summary="Remind (resend a fresh link to) the active parties")
def remind(
    contract_id: str, body: RemindIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, int]:
    # The answer is a count only: a signer's link or token is never shown to the sender.
    return {"reminded": runtime.contracts.remind(principal, ctx, contract_id, party_id=body.party_id)}


@router.patch(
    "/{contract_id}/parties/{party_id}/contact", summary="Correct a party's contact before they act"
)
def correct_contact(
    contract_id: str,
    party_id: str,
    body: ContactIn,
    principal: WritePrincipal,
    runtime: RuntimeDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    view = runtime.contracts.correct_contact(
        principal, ctx, contract_id, party_id, email=body.email, mobile=body.mobile
    )
    return _out(view)


@router.get(
    "/{contract_id}/documents/{document_id}/content",
    summary="Download a document (current revision; ?original=true for the document as sent)",
    response_class=StreamingResponse,
)
def download_document(
    contract_id: str, document_id: str, principal: ReadPrincipal, runtime: RuntimeDep, original: bool = False
) -> StreamingResponse:
    info, reader = runtime.contracts.open_document(principal, contract_id, document_id, original=original)

    def body() -> Iterator[bytes]:
        with reader:
            yield from reader.chunks()

    return StreamingResponse(
        body(),
        media_type="application/pdf",
        headers={
            "content-disposition": f"attachment; filename*=UTF-8''{quote(info.filename)}",
            "x-content-sha256": reader.ref.sha256 if hasattr(reader, "ref") else info.sha256,
            "cache-control": "private, no-store",
        },
    )


@router.get(
    "/{contract_id}/certificate",
    summary="The certificate of completion (PDF, time-stamped by the platform) of a completed contract",
    response_class=StreamingResponse,
)
def download_certificate(
    contract_id: str, principal: ReadPrincipal, runtime: RuntimeDep
) -> StreamingResponse:
    reader = runtime.contracts.open_certificate(principal, contract_id)

    def body() -> Iterator[bytes]:
        with reader:
            yield from reader.chunks()

    return StreamingResponse(
        body(),
        media_type="application/pdf",
        headers={
            "content-disposition": "attachment; filename=certificate-of-completion.pdf",
            "cache-control": "private, no-store",
        },
    )


@uploads.post(
    "/{contract_id}",
    status_code=status.HTTP_201_CREATED,
    summary="Add a document to a draft (raw body: PDF, DOCX, ODT or DOC; Content-Type is its type)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_document(
    contract_id: str,
    request: Request,
    principal: WritePrincipal,
    runtime: RuntimeDep,
    ctx: ContextDep,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    limit = runtime.settings.contract_max_file_bytes
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(
            f"The document exceeds the limit of {limit} bytes."
        )  # before reading any of it
    content_type = request.headers.get("content-type", "")
    stream = request.stream().__aiter__()

    def store() -> dict[str, Any]:
        return _out(
            runtime.contracts.upload_document(
                principal,
                ctx,
                contract_id,
                _body_chunks(stream),
                filename=filename,
                content_type=content_type,
            )
        )

    return await anyio.to_thread.run_sync(store)


@templates.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a template from an uploaded PDF file"
)
def create_template(
    body: TemplateIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    from sealpact.contracts.templates import Templates

    return _out(Templates(runtime).create(principal, ctx, body))


@templates.get("", summary="My templates")
def list_templates(principal: ReadPrincipal, runtime: RuntimeDep) -> list[dict[str, Any]]:
    from sealpact.contracts.templates import Templates

    return [_out(t) for t in Templates(runtime).list(principal)]


@templates.get("/{template_id}", summary="A template")
def get_template(template_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    from sealpact.contracts.templates import Templates

    return _out(Templates(runtime).get(principal, template_id))


@templates.post(
    "/{template_id}/contracts", status_code=status.HTTP_201_CREATED, summary="Create a draft from a template"
)
def contract_from_template(
    template_id: str,
    body: FromTemplateIn,
    principal: WritePrincipal,
    runtime: RuntimeDep,
    ctx: ContextDep,
    key: IdempotencyKey = None,
) -> dict[str, Any]:
    from sealpact.contracts.templates import Templates

    return _out(Templates(runtime).instantiate(principal, ctx, template_id, body, idempotency_key=key))


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000)
    events: list[str] = Field(min_length=1, max_length=50)
    organization_id: str | None = Field(default=None, max_length=36)


@webhooks.post(
    "", status_code=status.HTTP_201_CREATED, summary="Register an endpoint (its secret is shown once)"
)
def create_webhook(
    body: WebhookIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> dict[str, Any]:
    created = runtime.webhooks.create_endpoint(
        principal, ctx, url=body.url, events=body.events, organization_id=body.organization_id
    )
    return {**asdict(created.endpoint), "secret": created.secret}


@webhooks.get("", summary="My webhook endpoints")
def list_webhooks(principal: ReadPrincipal, runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [asdict(e) for e in runtime.webhooks.list_endpoints(principal)]


@webhooks.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an endpoint")
def delete_webhook(endpoint_id: str, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep) -> None:
    runtime.webhooks.delete_endpoint(principal, ctx, endpoint_id)


@webhooks.get("/{endpoint_id}/deliveries", summary="The delivery log of an endpoint, newest first")
def webhook_deliveries(
    endpoint_id: str, principal: ReadPrincipal, runtime: RuntimeDep, limit: int = Query(50, ge=1, le=200)
) -> list[dict[str, Any]]:
    return [asdict(d) for d in runtime.webhooks.deliveries(principal, endpoint_id, limit=limit)]


@webhooks.get("/deliveries/{delivery_id}/attempts", summary="Every attempt of one delivery")
def webhook_attempts(delivery_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [
        {
            "attempt": a.attempt,
            "attempted_at": a.attempted_at,
            "status_code": a.status_code,
            "error": a.error,
            "duration_ms": a.duration_ms,
        }
        for a in runtime.webhooks.attempts(principal, delivery_id)
    ]
