"""Public endpoints of the evidence transparency log and of this instance as a witness.

No authentication: the log holds hashes only (no personal data) and is meant to be fetched and verified
by anyone (C2SP tlog-tiles). Routes translate HTTP to :class:`~sealpact.evidence.service.EvidenceLog`
and :class:`~sealpact.evidence.witness.WitnessService` calls and nothing more.

- ``GET /log/checkpoint``: the latest C2SP tlog-checkpoint (signed note, with cosignatures)
- ``GET /log/vkey``: the log's signed-note verifier key
- ``GET /log/tile/<L>/<N>[.p/<W>]`` and ``/log/tile/entries/<N>[.p/<W>]``: C2SP tlog-tiles
- ``GET /log/proof/inclusion?index=&size=``, ``/log/proof/consistency?old=&new=``: RFC 9162 proofs (JSON)
- ``GET /log/entries/{entry_id}/proof``: a ``c2sp.org/tlog-proof@v1`` document for one entry
- ``POST /witness/add-checkpoint``: C2SP tlog-witness; ``GET /witness/vkey``: the cosignature key
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from sealpact.evidence.tiles import parse_entries_path, parse_tile_path
from sealpact.evidence.witness import MAX_REQUEST_BYTES, TLOG_SIZE_CONTENT_TYPE, WitnessConflict
from sealpact.runtime import Runtime
from sealpact.web.deps import get_runtime
from sealpact.web.errors import error_response

router = APIRouter(tags=["evidence"])

_TEXT = "text/plain; charset=utf-8"
_NO_CACHE = {"Cache-Control": "no-cache"}
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Size = Annotated[int, Query(ge=0, le=(1 << 63) - 1)]


@router.get("/log/checkpoint", summary="Latest signed checkpoint (C2SP tlog-checkpoint)")
def checkpoint(runtime: RuntimeDep) -> Response:
    return Response(runtime.evidence.checkpoint(), media_type=_TEXT, headers=_NO_CACHE)


@router.get("/log/vkey", summary="The log's note verifier key (C2SP signed-note)")
def vkey(runtime: RuntimeDep) -> Response:
    return Response(runtime.evidence.vkey() + "\n", media_type=_TEXT)


@router.get("/log/tile/{path:path}", summary="A tile or entry bundle (C2SP tlog-tiles)")
def tile(path: str, runtime: RuntimeDep) -> Response:
    if path.startswith("entries/"):
        bundle = parse_entries_path("tile/" + path)
        body, partial = runtime.evidence.read_entry_bundle(bundle), bundle.is_partial
    else:
        hashes = parse_tile_path("tile/" + path)
        body, partial = runtime.evidence.read_tile(hashes), hashes.is_partial
    # tlog-tiles: full tiles never change and are cacheable forever; partial ones are too, per width.
    return Response(body, media_type="application/octet-stream", headers=_NO_CACHE if partial else _IMMUTABLE)


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/log/proof/inclusion", summary="RFC 9162 §2.1.3 inclusion proof")
def inclusion(index: Size, size: Size, runtime: RuntimeDep) -> dict[str, object]:
    proof = runtime.evidence.inclusion_proof(index, size)
    return {"index": index, "tree_size": size, "proof": _b64(proof)}


@router.get("/log/proof/consistency", summary="RFC 9162 §2.1.4 consistency proof")
def consistency(old: Size, new: Size, runtime: RuntimeDep) -> dict[str, object]:
    proof = runtime.evidence.consistency_proof(old, new)
    return {"old_size": old, "new_size": new, "proof": _b64(proof)}


@router.get("/log/entries/{entry_id}/proof", summary="c2sp.org/tlog-proof@v1 for one entry")
def entry_proof(entry_id: str, runtime: RuntimeDep) -> Response:
    return Response(runtime.evidence.inclusion(entry_id[:64]).tlog_proof(), media_type=_TEXT)


@router.get("/witness/vkey", summary="This witness's cosignature/v1 verifier key")
def witness_vkey(runtime: RuntimeDep) -> Response:
    return Response(runtime.evidence_witness.vkey() + "\n", media_type=_TEXT)


@router.post("/witness/add-checkpoint", summary="C2SP tlog-witness add-checkpoint")
async def add_checkpoint(request: Request, runtime: RuntimeDep) -> Response:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_REQUEST_BYTES:
            return error_response(413, "payload_too_large", f"limited to {MAX_REQUEST_BYTES} bytes")
    try:
        lines = await run_in_threadpool(runtime.evidence_witness.add_checkpoint, bytes(body))
    except WitnessConflict as exc:
        # tlog-witness: 409 with the latest cosigned size, as text/x.tlog.size.
        return Response(f"{exc.known_size}\n", status_code=409, media_type=TLOG_SIZE_CONTENT_TYPE)
    return Response(lines, media_type=_TEXT)
