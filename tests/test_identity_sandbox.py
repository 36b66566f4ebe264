"""The sandbox authority and the contract adapter, over real HTTP on loopback.

Covers every provider method (match / mismatch / not found), request signing (forged, replayed, late),
retries on transient failures only, timeouts and outages reported as outages, idempotent transfers,
the face page's redirect and signed callback, and the "sandbox": true marking.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sealpact.clock import FrozenClock, SystemClock
from sealpact.identity.adapters import ContractProvider
from sealpact.identity.errors import (
    CallbackRejected,
    ProviderRejected,
    ProviderUnavailable,
    SandboxRefused,
    SignatureInvalid,
)
from sealpact.identity.http import SignedHttpClient
from sealpact.identity.providers import FaceStatus, Outcome
from sealpact.identity.sandbox import SandboxAuthority, create_sandbox_app, default_registry
from sealpact.identity.signing import MemoryNonceStore, sign_headers
from tests.live_server import LiveServer, free_port

KEY_ID = "platform-test"
SECRET = b"s" * 32
REG = default_registry()
ZHANG, LI, WANG = REG.persons
CARD = REG.bank_cards[0]


@pytest.fixture
def sandbox() -> Iterator[tuple[SandboxAuthority, str]]:
    authority = SandboxAuthority(clients={KEY_ID: SECRET}, registry=REG)
    with LiveServer(create_sandbox_app(authority)) as server:
        yield authority, server.url


def make_provider(
    url: str, *, retries: int = 2, timeout: float = 5.0, allow_sandbox: bool = True, secret: bytes = SECRET
) -> tuple[ContractProvider, list[float]]:
    sleeps: list[float] = []
    client = SignedHttpClient(
        url,
        key_id=KEY_ID,
        secret=secret,
        clock=SystemClock(),
        provider="sandbox",
        timeout=timeout,
        retries=retries,
        sleep=sleeps.append,
    )
    provider = ContractProvider(
        client, clock=SystemClock(), nonces=MemoryNonceStore(), sandbox=True, allow_sandbox=allow_sandbox
    )
    return provider, sleeps


def test_two_three_four_elements(sandbox: tuple[SandboxAuthority, str]) -> None:
    _, url = sandbox
    provider, _ = make_provider(url)
    ok = provider.verify_id2(name=ZHANG.name, id_number=ZHANG.id_number)
    assert ok.outcome is Outcome.MATCH and ok.sandbox and ok.transaction_id.startswith("sbx-id2-")
    assert provider.verify_id2(name=LI.name, id_number=ZHANG.id_number).outcome is Outcome.MISMATCH
    assert provider.verify_id2(name=ZHANG.name, id_number="110105194912310037").outcome is Outcome.NOT_FOUND

    assert (
        provider.verify_mobile3(name="张三", id_number=ZHANG.id_number, mobile="13800138000").outcome
        == "match"
    )
    assert provider.verify_mobile3(name="张三", id_number=ZHANG.id_number, mobile="13912345678").outcome == (
        "mismatch"
    )
    assert provider.verify_mobile3(name="张三", id_number=ZHANG.id_number, mobile="13700000000").outcome == (
        "not_found"
    )

    four = {"name": "张三", "id_number": ZHANG.id_number, "card_number": CARD.card_number}
    assert provider.verify_bank4(**four, mobile="13800138000").outcome is Outcome.MATCH
    assert provider.verify_bank4(**four, mobile="13912345678").outcome is Outcome.MISMATCH


def test_enterprise_and_transfers(sandbox: tuple[SandboxAuthority, str]) -> None:
    authority, url = sandbox
    provider, _ = make_provider(url)
    ent = REG.enterprises[0]
    assert provider.verify_enterprise(
        name=ent.name, credit_code=ent.credit_code, legal_rep_name="张三"
    ).outcome == ("match")
    wrong_rep = provider.verify_enterprise(name=ent.name, credit_code=ent.credit_code, legal_rep_name="李四")
    assert wrong_rep.outcome is Outcome.MISMATCH and wrong_rep.detail == "legal_representative"
    cancelled = REG.enterprises[2]
    gone = provider.verify_enterprise(
        name=cancelled.name, credit_code=cancelled.credit_code, legal_rep_name="王五"
    )
    assert gone.outcome is Outcome.MISMATCH and gone.detail == "enterprise_cancelled"

    account = REG.accounts[0]
    args: dict[str, Any] = {
        "account_name": account.account_name,
        "account_number": account.account_number,
        "bank_name": account.bank_name,
        "amount_fen": 37,
        "remark": "SP4821",
    }
    first = provider.transfer(**args, idempotency_key="dep-1")
    again = provider.transfer(**args, idempotency_key="dep-1")
    assert first.outcome is Outcome.MATCH and again.transaction_id == first.transaction_id
    statement = httpx.get(
        f"{url}/sandbox/transfers", params={"account_number": account.account_number}
    ).json()
    assert statement["sandbox"] is True
    assert [(t["amount_fen"], t["remark"]) for t in statement["transfers"]] == [(37, "SP4821")]  # paid once
    wrong_name = provider.transfer(**{**args, "account_name": "别的公司"}, idempotency_key="dep-2")
    assert wrong_name.outcome is Outcome.MISMATCH
    assert len(authority.state.transfers) == 1


def test_sms_inbox(sandbox: tuple[SandboxAuthority, str]) -> None:
    _, url = sandbox
    provider, _ = make_provider(url)
    receipt = provider.send_sms(mobile="13800138000", text="Your code is 123456", idempotency_key="sms-1")
    assert receipt.sandbox and receipt.transaction_id.startswith("sbx-sms-")
    inbox = httpx.get(f"{url}/sandbox/sms", params={"mobile": "13800138000"}).json()
    assert inbox["sandbox"] is True
    assert [m["text"] for m in inbox["messages"]] == ["Your code is 123456"]


def test_forged_and_replayed_requests_are_refused(sandbox: tuple[SandboxAuthority, str]) -> None:
    _, url = sandbox
    forged, _ = make_provider(url, secret=b"x" * 32)
    with pytest.raises(ProviderRejected) as info:
        forged.verify_id2(name="张三", id_number=ZHANG.id_number)
    assert "signature_invalid" in info.value.message and ZHANG.id_number not in info.value.message

    body = json.dumps({"name": "张三", "id_number": ZHANG.id_number}).encode()
    headers = sign_headers(
        key_id=KEY_ID,
        secret=SECRET,
        method="POST",
        path="/v1/person/verify",
        body=body,
        now=datetime.now(UTC),
    )
    assert httpx.post(f"{url}/v1/person/verify", content=body, headers=headers).status_code == 200
    replay = httpx.post(f"{url}/v1/person/verify", content=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "message_replayed"
    tampered = httpx.post(
        f"{url}/v1/person/verify", content=body.replace(b"\\u5f20", b"\\u674e"), headers=headers
    )
    assert tampered.status_code == 401 and tampered.json()["error"]["code"] == "signature_invalid"
    old = sign_headers(
        key_id=KEY_ID,
        secret=SECRET,
        method="POST",
        path="/v1/person/verify",
        body=body,
        now=datetime(2020, 1, 1, tzinfo=UTC),
    )
    late = httpx.post(f"{url}/v1/person/verify", content=body, headers=old)
    assert late.status_code == 401 and late.json()["error"]["code"] == "message_stale"
    assert httpx.post(f"{url}/v1/person/verify", content=body).status_code == 401  # unsigned


def test_transient_failures_are_retried_then_reported_as_outage(
    sandbox: tuple[SandboxAuthority, str],
) -> None:
    _, url = sandbox
    provider, sleeps = make_provider(url, retries=2)
    httpx.post(f"{url}/sandbox/faults", json={"path_prefix": "/v1/person", "status": 503, "count": 2})
    assert provider.verify_id2(name="张三", id_number=ZHANG.id_number).outcome is Outcome.MATCH
    assert len(sleeps) == 2  # two retries, then success

    httpx.post(f"{url}/sandbox/faults", json={"path_prefix": "/v1/person", "status": 502, "count": 3})
    with pytest.raises(ProviderUnavailable) as info:
        provider.verify_id2(name="张三", id_number=ZHANG.id_number)
    assert info.value.code == "provider_unavailable" and info.value.http_status == 503

    # A 500 is not "transient": reported as an outage at once, without retrying.
    sleeps.clear()
    httpx.post(f"{url}/sandbox/faults", json={"path_prefix": "/v1/carrier", "status": 500, "count": 1})
    with pytest.raises(ProviderUnavailable):
        provider.verify_mobile3(name="张三", id_number=ZHANG.id_number, mobile="13800138000")
    assert sleeps == []
    # A 4xx is a refusal, never retried and never a mismatch.
    httpx.post(f"{url}/sandbox/faults", json={"path_prefix": "/v1/bankcard", "status": 403, "count": 1})
    with pytest.raises(ProviderRejected):
        provider.verify_bank4(
            name="张三", id_number=ZHANG.id_number, card_number=CARD.card_number, mobile="1"
        )
    assert sleeps == []


def test_timeout_and_connection_refused_are_outages(sandbox: tuple[SandboxAuthority, str]) -> None:
    _, url = sandbox
    provider, sleeps = make_provider(url, retries=1, timeout=0.3)
    httpx.post(f"{url}/sandbox/faults", json={"path_prefix": "/v1/person", "status": 0, "delay_seconds": 1.5})
    httpx.post(f"{url}/sandbox/faults", json={"path_prefix": "/v1/person", "status": 0, "delay_seconds": 1.5})
    with pytest.raises(ProviderUnavailable, match="did not answer"):
        provider.verify_id2(name="张三", id_number=ZHANG.id_number)
    assert len(sleeps) == 1

    nowhere, _ = make_provider(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(ProviderUnavailable):
        nowhere.verify_id2(name="张三", id_number=ZHANG.id_number)


def test_sandbox_answers_refused_when_not_allowed(sandbox: tuple[SandboxAuthority, str]) -> None:
    _, url = sandbox
    provider, _ = make_provider(url, allow_sandbox=False)
    with pytest.raises(SandboxRefused):
        provider.verify_id2(name="张三", id_number=ZHANG.id_number)


class CallbackSink:
    """A stand-in platform endpoint that stores the raw signed callbacks it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/callback/face")
        async def receive(request: Request) -> JSONResponse:
            raw = request.scope["raw_path"].decode() + "?" + request.scope["query_string"].decode()
            with self.lock:
                self.received.append((raw, dict(request.headers), await request.body()))
            return JSONResponse({"ok": True})


def test_face_flow_redirect_callback_and_poll(sandbox: tuple[SandboxAuthority, str]) -> None:
    _, url = sandbox
    sink = CallbackSink()
    with LiveServer(sink.app) as platform:
        provider, _ = make_provider(url)
        session = provider.create_certification(
            name="张三",
            id_number=ZHANG.id_number,
            return_url=f"{platform.url}/return",
            callback_url=f"{platform.url}/callback/face?v=ref-1",
            reference="ref-1",
        )
        assert session.sandbox and session.redirect_url.startswith(url + "/face/")
        assert provider.query_certification(session.certify_id).status is FaceStatus.PENDING
        page = httpx.get(session.redirect_url)
        assert "SANDBOX" in page.text and ZHANG.id_number not in page.text and "张*" in page.text
        done = httpx.post(session.redirect_url, data={"outcome": "self"})
        assert done.status_code == 303
        assert done.headers["location"] == f"{platform.url}/return?certify_id={session.certify_id}"

        polled = provider.query_certification(session.certify_id)
        assert polled.status is FaceStatus.PASSED and polled.similarity == 95.0 and polled.sandbox
        assert polled.reference == "ref-1"

        assert len(sink.received) == 1
        path, headers, body = sink.received[0]
        result = provider.parse_callback(method="POST", path=path, headers=headers, body=body)
        assert result.status is FaceStatus.PASSED and result.certify_id == session.certify_id
        with pytest.raises(CallbackRejected) as replay:
            provider.parse_callback(method="POST", path=path, headers=headers, body=body)
        assert replay.value.code == "message_replayed"
        forged_body = body.replace(b'"passed"', b'"failed"')
        with pytest.raises(SignatureInvalid):
            provider.parse_callback(method="POST", path=path, headers=headers, body=forged_body)
        with pytest.raises(SignatureInvalid):  # the signature binds the path (and so the reference)
            provider.parse_callback(method="POST", path="/callback/face?v=ref-2", headers=headers, body=body)


@pytest.mark.parametrize(("outcome", "similarity", "liveness"), [("other", 31.0, 99.0), ("spoof", 95.0, 8.0)])
def test_face_failures(
    sandbox: tuple[SandboxAuthority, str], outcome: str, similarity: float, liveness: float
) -> None:
    _, url = sandbox
    provider, _ = make_provider(url)
    session = provider.create_certification(
        name="张三",
        id_number=ZHANG.id_number,
        return_url="http://127.0.0.1:9/return",
        callback_url=f"http://127.0.0.1:{free_port()}/cb",  # nobody listens: the platform must poll
        reference="ref-x",
    )
    httpx.post(session.redirect_url, data={"outcome": outcome})
    result = provider.query_certification(session.certify_id)
    assert (result.status, result.similarity, result.liveness) == (FaceStatus.FAILED, similarity, liveness)


def test_stale_callback_rejected() -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    client = SignedHttpClient(
        "http://127.0.0.1:9", key_id=KEY_ID, secret=SECRET, clock=clock, provider="sandbox"
    )
    provider = ContractProvider(
        client, clock=clock, nonces=MemoryNonceStore(), sandbox=True, allow_sandbox=True
    )
    body = b'{"certify_id": "c", "status": "passed", "transaction_id": "t", "sandbox": true}'
    headers = sign_headers(
        key_id=KEY_ID, secret=SECRET, method="POST", path="/cb", body=body, now=clock.now()
    )
    clock.advance(minutes=6)
    with pytest.raises(CallbackRejected) as info:
        provider.parse_callback(method="POST", path="/cb", headers=headers, body=body)
    assert info.value.code == "message_stale"
