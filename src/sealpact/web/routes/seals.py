"""/api/v1/seals: create signature and seal appearances, list them, fetch their PNGs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field

from sealpact.context import RequestContext
from sealpact.runtime import Runtime
from sealpact.seals.errors import InvalidImage
from sealpact.seals.scan import MAX_SCAN_BYTES
from sealpact.seals.seal import SealShape, SealSpec
from sealpact.seals.service import AppearanceInfo, Appearances
from sealpact.web.auth import ReadPrincipal, WritePrincipal
from sealpact.web.deps import get_context, get_runtime

router = APIRouter(prefix="/api/v1/seals", tags=["seals"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
SCAN_PATH = "/api/v1/seals/scans"  # takes a raw image body (an upload prefix in the app's body limits)


class AppearanceOut(BaseModel):
    id: str
    kind: str
    name: str
    owner_user_id: str | None
    organization_id: str | None
    width_px: int
    height_px: int
    dpi: int
    width_mm: float
    height_mm: float
    sha256: str
    has_evidence: bool
    text_verified: bool
    spec: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, info: AppearanceInfo) -> AppearanceOut:
        return cls(**info.__dict__)


class HandwrittenIn(BaseModel):
    strokes: list[list[dict[str, Any]]] = Field(
        description='Strokes of points {"x", "y"} (capture CSS px), optional "t" (ms) and "p" (pressure 0..1)'
    )
    name: str = Field(default="", max_length=100)
    pen_mm: float = Field(default=0.7, ge=0.1, le=5.0)


class GeneratedIn(BaseModel):
    name: str = Field(default="", max_length=100)
    height_mm: float = Field(default=12.0, ge=4.0, le=40.0)


class SealIn(BaseModel):
    organization_id: str | None = Field(
        default=None, max_length=36, description="The organization; omitted = a personal seal (verified name)"
    )
    shape: Literal["round", "oval", "square"] = "round"
    text: str = Field(default="", max_length=40, description="Rim text; empty = the verified enterprise name")
    seal_name: str = Field(default="", max_length=12, description="e.g. 合同专用章")
    code: str = Field(default="", max_length=24)
    star: bool | None = None
    width_mm: float | None = Field(default=None, ge=10, le=80)
    height_mm: float | None = Field(default=None, ge=10, le=80)
    colour: str = Field(default="#E60000", pattern=r"^#[0-9A-Fa-f]{6}$")
    name: str = Field(default="", max_length=100, description="Display name of the appearance")


@router.post("/handwritten", status_code=status.HTTP_201_CREATED, summary="A drawn signature from strokes")
def create_handwritten(
    body: HandwrittenIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> AppearanceOut:
    info = Appearances(runtime).create_handwritten(
        principal, ctx, body.strokes, name=body.name, pen_mm=body.pen_mm
    )
    return AppearanceOut.of(info)


@router.post("/generated", status_code=status.HTTP_201_CREATED, summary="A signature from my verified name")
def create_generated(
    body: GeneratedIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> AppearanceOut:
    info = Appearances(runtime).create_generated(principal, ctx, height_mm=body.height_mm, name=body.name)
    return AppearanceOut.of(info)


@router.post(
    "/seal",
    status_code=status.HTTP_201_CREATED,
    summary="An organization seal, or a personal name seal, from a spec",
)
def create_seal(
    body: SealIn, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> AppearanceOut:
    spec = SealSpec(
        SealShape(body.shape),
        body.text,
        body.seal_name,
        body.code,
        body.star,
        body.width_mm,
        body.height_mm,
        body.colour,
    )
    info = Appearances(runtime).create_seal(principal, ctx, body.organization_id, spec, name=body.name)
    return AppearanceOut.of(info)


@router.post(
    "/scans",
    status_code=status.HTTP_201_CREATED,
    summary="An organization seal from a scanned image (raw PNG/JPEG body); background made transparent",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def create_scan(
    request: Request,
    principal: WritePrincipal,
    runtime: RuntimeDep,
    ctx: ContextDep,
    organization_id: Annotated[str, Query(max_length=36)],
    name: Annotated[str, Query(max_length=100)] = "scanned seal",
) -> AppearanceOut:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SCAN_BYTES:
            raise InvalidImage(f"A seal scan is at most {MAX_SCAN_BYTES} bytes.")
    data = bytes(body)

    def store() -> AppearanceInfo:
        return Appearances(runtime).create_scan(principal, ctx, organization_id, data, name=name)

    return AppearanceOut.of(await anyio.to_thread.run_sync(store))


@router.get("", summary="My appearances, or an organization's seals")
def list_appearances(
    principal: ReadPrincipal,
    runtime: RuntimeDep,
    organization_id: Annotated[str | None, Query(max_length=36)] = None,
) -> list[AppearanceOut]:
    infos = Appearances(runtime).list(principal, organization_id=organization_id)
    return [AppearanceOut.of(info) for info in infos]


@router.get("/{appearance_id}", summary="An appearance's metadata")
def get_appearance(appearance_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> AppearanceOut:
    return AppearanceOut.of(Appearances(runtime).get(principal, appearance_id))


@router.get("/{appearance_id}/png", summary="The appearance image (transparent PNG at print resolution)")
def get_png(appearance_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> Response:
    info, png = Appearances(runtime).png(principal, appearance_id)
    return Response(
        png,
        media_type="image/png",
        headers={"x-content-sha256": info.sha256, "cache-control": "private, no-store"},
    )


@router.get("/{appearance_id}/evidence", summary="Capture evidence: stroke JSON or the original scan")
def get_evidence(appearance_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> Response:
    content_type, data = Appearances(runtime).evidence(principal, appearance_id)
    return Response(data, media_type=content_type, headers={"cache-control": "private, no-store"})


@router.delete("/{appearance_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Withdraw an appearance")
def delete_appearance(
    appearance_id: str, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> None:
    Appearances(runtime).delete(principal, ctx, appearance_id)
