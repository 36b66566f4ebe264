"""POST /pki/tsa: the RFC 3161 time-stamp authority over HTTP (section 3.4), public.

Only transport problems are HTTP errors (415 wrong content type, 413 oversized body); everything about
the request itself is answered in protocol, with HTTP 200 and a TimeStampResp carrying PKIStatus
rejection and a failInfo.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from sealpact.pki.tsa import CONTENT_TYPE_QUERY, CONTENT_TYPE_REPLY
from sealpact.runtime import Runtime
from sealpact.web.deps import get_runtime

router = APIRouter(tags=["pki"])


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"A time-stamp request is at most {limit} bytes.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"A time-stamp request is at most {limit} bytes.")
    return bytes(body)


@router.post(
    "/pki/tsa",
    summary="RFC 3161 time-stamp request (application/timestamp-query -> application/timestamp-reply)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_REPLY: {}}}},
)
async def timestamp(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != CONTENT_TYPE_QUERY:
        raise HTTPException(415, f"Send a DER TimeStampReq as {CONTENT_TYPE_QUERY}.")
    body = await _read_body(request, runtime.settings.tsa_max_request_bytes)
    # Signing is CPU work and a serial block reservation is a database round trip: off the event loop.
    answer = await run_in_threadpool(runtime.tsa.respond, body)
    return Response(answer.der, media_type=CONTENT_TYPE_REPLY, headers={"Cache-Control": "no-store"})
