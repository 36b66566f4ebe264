"""Public PKI endpoints: CA certificates, CRLs and the OCSP responder. No authentication, cacheable.

- ``GET /pki/ca/{name}.crt``: DER (``application/pkix-cert``, RFC 2585 section 4.1), PEM with ``?format=pem``
- ``GET /pki/crl/{name}.crl``: DER (``application/pkix-crl``, RFC 2585 section 4.2)
- ``POST /pki/ocsp`` and ``GET /pki/ocsp/{base64}``: RFC 6960 appendix A.1, caching per RFC 5019 section 6
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from sealpact.pki.builders import to_pem
from sealpact.pki.errors import UnknownAuthority
from sealpact.pki.ocsp import OcspFailure, failure_response
from sealpact.pki.status import OcspAnswer
from sealpact.runtime import Runtime
from sealpact.web.deps import get_runtime
from sealpact.web.errors import error_response

router = APIRouter(prefix="/pki", tags=["pki"])

OCSP_MAX_REQUEST_BYTES = 16 * 1024  # a request for ten certificates with a nonce is well under 1 KiB
_PUBLIC_CERTS = ("root", "issuing", "tsa", "ocsp")
_OCSP_RESPONSE = "application/ocsp-response"


def _http_date(value: datetime) -> str:
    return format_datetime(value, usegmt=True)


@router.get("/ca/{name}.crt", summary="A platform CA (or TSA / OCSP responder) certificate")
@router.head("/ca/{name}.crt", include_in_schema=False)
def ca_certificate(
    name: str,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    format: Annotated[Literal["der", "pem"], Query()] = "der",
) -> Response:
    if name not in _PUBLIC_CERTS:
        raise UnknownAuthority(f"no certificate authority named {name!r}")
    der = runtime.pki.certificate_der(name)
    headers = {"Cache-Control": "public, max-age=86400", "ETag": f'"{hashlib.sha256(der).hexdigest()[:32]}"'}
    if format == "pem":
        return Response(to_pem("CERTIFICATE", der), media_type="application/x-pem-file", headers=headers)
    return Response(der, media_type="application/pkix-cert", headers=headers)


@router.get("/crl/{name}.crl", summary="The current CRL of a platform CA")
@router.head("/crl/{name}.crl", include_in_schema=False)
def crl(name: str, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    document = runtime.pki.crl(name)
    remaining = int((document.next_update - runtime.clock.now()).total_seconds())
    # Caches may keep it until a newer one could exist; we re-sign at half-life, so cap at an hour.
    max_age = max(0, min(remaining, 3600))
    headers = {
        "Cache-Control": f"public, max-age={max_age}, no-transform",
        "Last-Modified": _http_date(document.this_update),
        "Expires": _http_date(document.next_update),
        "ETag": f'"{document.number}"',
    }
    return Response(document.der, media_type="application/pkix-crl", headers=headers)


def _ocsp_response(answer: OcspAnswer, runtime: Runtime) -> Response:
    headers: dict[str, str]
    if answer.successful and not answer.nonce and answer.this_update and answer.next_update:
        # RFC 5019 section 6.2: let HTTP caches keep the response until nextUpdate.
        max_age = max(0, int((answer.next_update - runtime.clock.now()).total_seconds()))
        headers = {
            "Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate",
            "Last-Modified": _http_date(answer.this_update),
            "Expires": _http_date(answer.next_update),
            "ETag": f'"{hashlib.sha256(answer.body).hexdigest()[:32]}"',
        }
    else:
        # Nonce-bearing and error responses are for one request only.
        headers = {"Cache-Control": "no-store"}
    return Response(answer.body, media_type=_OCSP_RESPONSE, headers=headers)


@router.post("/ocsp", summary="OCSP responder (RFC 6960), HTTP POST")
async def ocsp_post(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/ocsp-request":
        return error_response(415, "unsupported_media_type", "Content-Type must be application/ocsp-request.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > OCSP_MAX_REQUEST_BYTES:
        return error_response(
            413, "payload_too_large", f"OCSP requests are limited to {OCSP_MAX_REQUEST_BYTES} bytes."
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > OCSP_MAX_REQUEST_BYTES:
            return error_response(
                413, "payload_too_large", f"OCSP requests are limited to {OCSP_MAX_REQUEST_BYTES} bytes."
            )
    answer = await run_in_threadpool(runtime.pki.ocsp, bytes(body))
    return _ocsp_response(answer, runtime)


@router.get("/ocsp/{encoded:path}", summary="OCSP responder (RFC 6960), HTTP GET")
async def ocsp_get(encoded: str, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    # Appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER encoding of the OCSPRequest}.
    # The path arrives URL-decoded; tolerate the URL-safe alphabet and missing padding too.
    if len(encoded) > OCSP_MAX_REQUEST_BYTES * 4 // 3 + 4:
        return error_response(414, "uri_too_long", "OCSP request too long for GET; use POST.")
    text = encoded.replace("-", "+").replace("_", "/").replace(" ", "+")
    try:
        der = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return Response(
            failure_response(OcspFailure.MALFORMED_REQUEST),
            media_type=_OCSP_RESPONSE,
            headers={"Cache-Control": "no-store"},
        )
    answer = await run_in_threadpool(runtime.pki.ocsp, der)
    return _ocsp_response(answer, runtime)
