"""The sandbox authority's HTTP app: the sealpact provider contract, plus pages and inspection endpoints.

Signed endpoints (the contract the production adapters speak, see docs/identity-providers.md)::

    POST /v1/person/verify              {name, id_number}                         two elements
    POST /v1/carrier/verify             {name, id_number, mobile}                 three elements
    POST /v1/bankcard/verify            {name, id_number, card_number, mobile}    four elements
    POST /v1/sms/send                   {mobile, text}
    POST /v1/face/certifications        {name, id_number, return_url, callback_url, reference}
    GET  /v1/face/certifications/{id}
    POST /v1/enterprise/verify          {name, credit_code, legal_rep_name}
    POST /v1/payments/transfers         {account_name, account_number, bank_name, amount_fen, remark}

Unsigned, sandbox only: ``GET/POST /face/{id}`` (the face page, which redirects back and sends the
signed callback), ``GET /sandbox/sms?mobile=`` (the SMS inbox), ``GET /sandbox/transfers?account_number=``
(the corporate account's statement) and ``POST/DELETE /sandbox/faults`` (inject 5xx or delays).

State (inbox, transfers, face sessions) lives in memory: one process, restarted empty.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from sealpact.clock import Clock, SystemClock
from sealpact.identity.errors import CallbackRejected
from sealpact.identity.sandbox.registry import TestRegistry, default_registry
from sealpact.identity.signing import MemoryNonceStore, sign_headers, verify_signed

FACE_PASS_SIMILARITY = 70.0  # the sandbox's own threshold; the platform applies its own on top
FACE_PASS_LIVENESS = 70.0
MAX_BODY = 64 * 1024


@dataclass
class Fault:
    path_prefix: str
    status: int  # 0: no error, just the delay
    remaining: int
    delay_seconds: float = 0.0


@dataclass
class FaceCertification:
    certify_id: str
    key_id: str
    name: str
    id_number: str
    return_url: str
    callback_url: str
    reference: str
    created_at: datetime
    result: dict[str, Any] | None = None


@dataclass
class SandboxState:
    sms: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    face: dict[str, FaceCertification] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # delivery log: status per callback
    lock: threading.Lock = field(default_factory=threading.Lock)


class SandboxAuthority:
    """Configuration and state of one sandbox authority (clients' shared secrets, registry, clock)."""

    def __init__(
        self,
        *,
        clients: Mapping[str, bytes],
        registry: TestRegistry | None = None,
        clock: Clock | None = None,
        callback_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not clients:
            raise ValueError("the sandbox authority needs at least one client key")
        self.clients = dict(clients)
        self.registry = registry or default_registry()
        self.clock: Clock = clock or SystemClock()
        self.state = SandboxState()
        self.nonces = MemoryNonceStore()
        self.callback_transport = callback_transport

    def txn(self, kind: str) -> str:
        return f"sbx-{kind}-{secrets.token_hex(8)}"


def _answer(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"sandbox": True, **body}, status_code=status)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"sandbox": True, "error": {"code": code, "message": message}}, status_code=status)


def _strings(payload: Any, *names: str) -> dict[str, str] | None:
    if not isinstance(payload, dict):
        return None
    values = {n: payload.get(n) for n in names}
    if not all(isinstance(v, str) and 0 < len(v) <= 2048 for v in values.values()):
        return None
    return {k: str(v) for k, v in values.items()}


def create_sandbox_app(authority: SandboxAuthority) -> FastAPI:
    app = FastAPI(title="sealpact sandbox authority", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.authority = authority
    state = authority.state

    async def signed(request: Request) -> tuple[str, Any] | JSONResponse:
        """Fault injection, then signature check; returns (key id, JSON body) or an error answer."""
        path = request.url.path.removeprefix(request.scope.get("root_path", ""))
        with state.lock:
            fault = next(
                (f for f in state.faults if path.startswith(f.path_prefix) and f.remaining > 0), None
            )
            if fault is not None:
                fault.remaining -= 1
        if fault is not None:
            if fault.delay_seconds:
                await asyncio.sleep(fault.delay_seconds)
            if fault.status:
                return _error(fault.status, "sandbox_fault", "injected fault")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "too_large", "request body too large")
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        signed_path = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        try:
            key_id = verify_signed(
                method=request.method,
                path=signed_path,
                headers=dict(request.headers),
                body=body,
                secrets_by_key=authority.clients,
                now=authority.clock.now(),
                nonces=authority.nonces,
            )
        except CallbackRejected as exc:
            return _error(401, exc.code, exc.message)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return _error(400, "bad_json", "body is not JSON")
        return key_id, payload

    def idempotent(request: Request, key_id: str) -> dict[str, Any] | None:
        key = request.headers.get("idempotency-key")
        return state.idempotent.get(f"{key_id}:{key}") if key else None

    def remember(request: Request, key_id: str, answer: dict[str, Any]) -> None:
        key = request.headers.get("idempotency-key")
        if key:
            state.idempotent[f"{key_id}:{key}"] = answer

    registry = authority.registry

    @app.post("/v1/person/verify")
    async def person_verify(request: Request) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        fields = _strings(checked[1], "name", "id_number")
        if fields is None:
            return _error(400, "bad_request", "name and id_number are required")
        person = registry.person(fields["id_number"])
        if person is None:
            result = "not_found"
        else:
            result = "match" if person.name == fields["name"] and not person.deceased else "mismatch"
        return _answer({"transaction_id": authority.txn("id2"), "result": result})

    @app.post("/v1/carrier/verify")
    async def carrier_verify(request: Request) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        fields = _strings(checked[1], "name", "id_number", "mobile")
        if fields is None:
            return _error(400, "bad_request", "name, id_number and mobile are required")
        sub = registry.subscriber(fields["mobile"])
        if sub is None:
            result = "not_found"
        else:
            same = sub.name == fields["name"] and sub.id_number == fields["id_number"]
            result = "match" if same else "mismatch"
        return _answer({"transaction_id": authority.txn("mobile3"), "result": result})

    @app.post("/v1/bankcard/verify")
    async def bankcard_verify(request: Request) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        fields = _strings(checked[1], "name", "id_number", "card_number", "mobile")
        if fields is None:
            return _error(400, "bad_request", "name, id_number, card_number and mobile are required")
        card = registry.bank_card(fields["card_number"])
        if card is None:
            result = "not_found"
        else:
            same = (card.name, card.id_number, card.mobile) == (
                fields["name"],
                fields["id_number"],
                fields["mobile"],
            )
            result = "match" if same else "mismatch"
        return _answer({"transaction_id": authority.txn("bank4"), "result": result})

    @app.post("/v1/sms/send")
    async def sms_send(request: Request) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        key_id, payload = checked
        fields = _strings(payload, "mobile", "text")
        if fields is None:
            return _error(400, "bad_request", "mobile and text are required")
        with state.lock:
            previous = idempotent(request, key_id)
            if previous is not None:
                return _answer(previous)
            answer = {"transaction_id": authority.txn("sms"), "result": "sent"}
            state.sms.append({**fields, "sent_at": authority.clock.now().isoformat(), **answer})
            remember(request, key_id, answer)
        return _answer(answer)

    @app.post("/v1/enterprise/verify")
    async def enterprise_verify(request: Request) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        fields = _strings(checked[1], "name", "credit_code", "legal_rep_name")
        if fields is None:
            return _error(400, "bad_request", "name, credit_code and legal_rep_name are required")
        ent = registry.enterprise(fields["credit_code"])
        answer: dict[str, Any] = {"transaction_id": authority.txn("ent")}
        if ent is None:
            answer["result"] = "not_found"
        elif ent.status != "active":
            answer.update(result="mismatch", detail=f"enterprise_{ent.status}")
        elif ent.name != fields["name"]:
            answer.update(result="mismatch", detail="name")
        elif ent.legal_rep_name != fields["legal_rep_name"]:
            answer.update(result="mismatch", detail="legal_representative")
        else:
            answer["result"] = "match"
        return _answer(answer)

    @app.post("/v1/payments/transfers")
    async def transfer(request: Request) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        key_id, payload = checked
        fields = _strings(payload, "account_name", "account_number", "bank_name", "remark")
        amount = payload.get("amount_fen") if isinstance(payload, dict) else None
        if fields is None or not isinstance(amount, int) or not 1 <= amount <= 99:
            return _error(400, "bad_request", "account fields, remark and amount_fen 1..99 are required")
        with state.lock:
            previous = idempotent(request, key_id)
            if previous is not None:
                return _answer(previous)  # a retried transfer is not paid twice
            account = registry.account(fields["account_number"])
            answer: dict[str, Any] = {"transaction_id": authority.txn("pay")}
            if account is None:
                answer["result"] = "not_found"
            elif account.account_name != fields["account_name"]:
                answer.update(result="mismatch", detail="account_name")
            else:
                answer["result"] = "match"
                state.transfers.append(
                    {
                        "account_number": account.account_number,
                        "amount_fen": amount,
                        "remark": fields["remark"],
                        "transaction_id": answer["transaction_id"],
                        "at": authority.clock.now().isoformat(),
                    }
                )
            remember(request, key_id, answer)
        return _answer(answer)

    @app.post("/v1/face/certifications")
    async def face_create(request: Request) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        key_id, payload = checked
        fields = _strings(payload, "name", "id_number", "return_url", "callback_url", "reference")
        if fields is None:
            return _error(400, "bad_request", "name, id_number, return_url, callback_url, reference required")
        for url in (fields["return_url"], fields["callback_url"]):
            if urlsplit(url).scheme not in ("http", "https"):
                return _error(400, "bad_request", "return_url and callback_url must be http(s) URLs")
        certify_id = "sbxface" + secrets.token_hex(12)
        cert = FaceCertification(
            certify_id=certify_id,
            key_id=key_id,
            name=fields["name"],
            id_number=fields["id_number"],
            return_url=fields["return_url"],
            callback_url=fields["callback_url"],
            reference=fields["reference"],
            created_at=authority.clock.now(),
        )
        with state.lock:
            state.face[certify_id] = cert
        page = str(request.url_for("face_page", certify_id=certify_id))
        return _answer({"transaction_id": authority.txn("face"), "certify_id": certify_id, "url": page})

    @app.get("/v1/face/certifications/{certify_id}")
    async def face_query(request: Request, certify_id: str) -> Response:
        checked = await signed(request)
        if isinstance(checked, JSONResponse):
            return checked
        cert = state.face.get(certify_id)
        if cert is None or cert.key_id != checked[0]:
            return _error(404, "not_found", "no such certification")
        return _answer(_face_body(cert))

    @app.get("/face/{certify_id}", name="face_page", response_class=HTMLResponse)
    async def face_page(certify_id: str) -> Response:
        cert = state.face.get(certify_id)
        if cert is None:
            return HTMLResponse("<p>Unknown or expired certification.</p>", status_code=404)
        masked = html.escape(cert.name[:1] + "*" * (len(cert.name) - 1))
        done = "<p>This certification is already complete.</p>" if cert.result else ""
        return HTMLResponse(
            "<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>Sandbox face verification"
            "</title></head><body><p><strong>SANDBOX</strong> face verification — no camera, no real check."
            f"</p><p>Person: {masked}</p>{done}<form method='post'>"
            "<button name='outcome' value='self'>I am this person (live)</button>"
            "<button name='outcome' value='other'>Someone else's face</button>"
            "<button name='outcome' value='spoof'>A photo held to the camera</button>"
            "<button name='outcome' value='cancel'>Cancel</button></form></body></html>"
        )

    @app.post("/face/{certify_id}")
    async def face_submit(request: Request, certify_id: str) -> Response:
        cert = state.face.get(certify_id)
        if cert is None:
            return HTMLResponse("<p>Unknown or expired certification.</p>", status_code=404)
        form = await request.form()
        outcome = str(form.get("outcome", "cancel"))
        if cert.result is None:
            cert.result = _face_outcome(authority, cert, outcome)
            await _send_callback(authority, cert)
        target = (
            cert.return_url + ("&" if "?" in cert.return_url else "?") + urlencode({"certify_id": certify_id})
        )
        return RedirectResponse(target, status_code=303)

    @app.get("/sandbox/sms")
    async def sms_inbox(mobile: str) -> Response:
        return _answer({"messages": [m for m in state.sms if m["mobile"] == mobile]})

    @app.get("/sandbox/transfers")
    async def statement(account_number: str) -> Response:
        return _answer({"transfers": [t for t in state.transfers if t["account_number"] == account_number]})

    @app.get("/sandbox/callbacks")
    async def callbacks() -> Response:
        return _answer({"callbacks": list(state.callbacks)})

    @app.post("/sandbox/faults")
    async def add_fault(request: Request) -> Response:
        data = await request.json()
        fault = Fault(
            path_prefix=str(data["path_prefix"]),
            status=int(data.get("status", 503)),
            remaining=int(data.get("count", 1)),
            delay_seconds=float(data.get("delay_seconds", 0.0)),
        )
        with state.lock:
            state.faults.append(fault)
        return _answer({"faults": len(state.faults)})

    @app.delete("/sandbox/faults")
    async def clear_faults() -> Response:
        with state.lock:
            state.faults.clear()
        return _answer({"faults": 0})

    @app.get("/")
    async def index() -> Response:
        return _answer({"service": "sealpact sandbox authority", "persons": len(registry.persons)})

    return app


def _face_outcome(authority: SandboxAuthority, cert: FaceCertification, outcome: str) -> dict[str, Any]:
    person = authority.registry.person(cert.id_number)
    known = person is not None and person.name == cert.name
    similarity: float | None
    if outcome == "cancel":
        similarity, liveness, detail = None, None, "user_cancelled"
    elif not known or person is None:
        similarity, liveness, detail = None, 99.0, "no_reference_photo"
    elif outcome == "other":
        similarity, liveness, detail = 31.0, 99.0, None
    elif outcome == "spoof":
        similarity, liveness, detail = person.face_similarity, 8.0, None
    else:
        similarity, liveness, detail = person.face_similarity, 99.0, None
    passed = (
        similarity is not None
        and liveness is not None
        and similarity >= FACE_PASS_SIMILARITY
        and liveness >= FACE_PASS_LIVENESS
    )
    return {
        "status": "passed" if passed else "failed",
        "similarity": similarity,
        "liveness": liveness,
        "threshold": FACE_PASS_SIMILARITY,
        "detail": detail,
        "transaction_id": authority.txn("face"),
    }


def _face_body(cert: FaceCertification) -> dict[str, Any]:
    body: dict[str, Any] = {"certify_id": cert.certify_id, "reference": cert.reference}
    if cert.result is None:
        body.update(status="pending", transaction_id=f"sbx-face-{cert.certify_id[-8:]}")
    else:
        body.update(cert.result)
    return body


async def _send_callback(authority: SandboxAuthority, cert: FaceCertification) -> None:
    """POST the signed result to the platform; failures are logged, the platform can still poll."""
    body = json.dumps({"sandbox": True, **_face_body(cert)}).encode()
    parts = urlsplit(cert.callback_url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    headers = sign_headers(
        key_id=cert.key_id,
        secret=authority.clients[cert.key_id],
        method="POST",
        path=path,
        body=body,
        now=authority.clock.now(),
    )
    headers["Content-Type"] = "application/json"
    status: int | str
    try:
        async with httpx.AsyncClient(timeout=5.0, transport=authority.callback_transport) as client:
            response = await client.post(cert.callback_url, content=body, headers=headers)
            status = response.status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    # Kept (with the signature headers) so tests and the demo can inspect, and try to replay, callbacks.
    authority.state.callbacks.append(
        {
            "certify_id": cert.certify_id,
            "status": status,
            "url": cert.callback_url,
            "headers": headers,
            "body": body.decode(),
        }
    )
