"""The Tencent Cloud FaceID adapter against a small fake of its wire format, served on loopback.

The fake checks the TC3-HMAC-SHA256 signature with its own implementation (written from the API 3.0
signing documentation, separately from the adapter's) and answers like the documented actions. This
is NOT a test against the real service; the adapter has never been run against it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sealpact.clock import FrozenClock
from sealpact.identity.errors import CallbackRejected, ProviderRejected, ProviderUnavailable
from sealpact.identity.providers import FaceStatus, Outcome
from sealpact.identity.tencent import TencentFaceId
from tests.live_server import LiveServer
from tests.test_identity_support import ZHANG

SECRET_ID = "AKIDEXAMPLEEXAMPLEEXAMPLE"
SECRET_KEY = "secret-key-for-the-fake-only"
NOW = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_signature(request_headers: dict[str, str], body: bytes, secret_key: str) -> tuple[str, str]:
    """Independent re-statement of Tencent Cloud signature v3 (TC3-HMAC-SHA256); returns (credential, sig)."""
    auth = request_headers["authorization"]
    algorithm, _, rest = auth.partition(" ")
    assert algorithm == "TC3-HMAC-SHA256"
    parts = dict(item.strip().split("=", 1) for item in rest.split(","))
    signed = parts["SignedHeaders"].split(";")
    canonical_headers = "".join(
        f"{name}:{request_headers[name].lower() if name == 'x-tc-action' else request_headers[name]}\n"
        for name in signed
    )
    canonical = f"POST\n/\n\n{canonical_headers}\n{';'.join(signed)}\n{_sha256_hex(body)}"
    timestamp = request_headers["x-tc-timestamp"]
    day = datetime.fromtimestamp(int(timestamp), tz=UTC).date().isoformat()
    scope = f"{day}/faceid/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256_hex(canonical.encode())}"
    k = ("TC3" + secret_key).encode()
    for piece in (day, "faceid", "tc3_request"):
        k = hmac.new(k, piece.encode(), hashlib.sha256).digest()
    return parts["Credential"], hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeTencent:
    def __init__(self) -> None:
        self.app = FastAPI()
        self.calls: list[str] = []
        self.next_errors: list[str] = []
        self.face: dict[str, dict[str, Any]] = {}

        @self.app.post("/")
        async def api(request: Request) -> JSONResponse:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            action = headers["x-tc-action"]
            self.calls.append(action)
            credential, signature = expected_signature(headers, body, SECRET_KEY)
            given = headers["authorization"].rsplit("Signature=", 1)[1]
            if not credential.startswith(SECRET_ID + "/") or not hmac.compare_digest(signature, given):
                return self._error("AuthFailure.SignatureFailure")
            if headers.get("x-tc-version") != "2018-03-01":
                return self._error("InvalidParameter")
            if self.next_errors:
                return self._error(self.next_errors.pop(0))
            params = json.loads(body)
            return JSONResponse(
                {"Response": {**self.handle(action, params), "RequestId": f"req-{len(self.calls)}"}}
            )

    @staticmethod
    def _error(code: str) -> JSONResponse:
        return JSONResponse(
            {"Response": {"Error": {"Code": code, "Message": "fake"}, "RequestId": "req-err"}}
        )

    def handle(self, action: str, p: dict[str, Any]) -> dict[str, Any]:
        known = p.get("IdCard") == ZHANG.id_number
        if action == "IdCardVerification":
            if p["Name"] == "故障":
                return {"Result": "-4", "Description": "证件库服务异常"}
            if not known:
                return {"Result": "-5", "Description": "证件库中无此身份证记录"}
            return {"Result": "0" if p["Name"] == "张三" else "-1", "Description": "..."}
        if action == "PhoneVerification":
            return {"Result": "0" if known and p["Phone"] == "13800138000" else "-4", "Description": "..."}
        if action == "BankCard4EVerification":
            return {
                "Result": "0" if known and p["BankCard"].startswith("6222") else "-1",
                "Description": "...",
            }
        if action == "DetectAuth":
            token = f"biz-{len(self.face) + 1}"
            self.face[token] = {"ErrCode": None, "Sim": None, "Extra": p.get("Extra"), "LiveStatus": None}
            return {"Url": f"https://faceid.example/h5?token={token}", "BizToken": token}
        if action == "GetDetectInfoEnhanced":
            return {"Text": self.face[p["BizToken"]]}
        return {}


@pytest.fixture
def fake() -> Iterator[tuple[FakeTencent, str]]:
    server = FakeTencent()
    with LiveServer(server.app) as live:
        yield server, live.url


def adapter(url: str, secret_key: str = SECRET_KEY, retries: int = 1) -> TencentFaceId:
    return TencentFaceId(
        endpoint=url,
        secret_id=SECRET_ID,
        secret_key=secret_key,
        region="ap-guangzhou",
        clock=FrozenClock(NOW),
        rule_id="1",
        retries=retries,
        sleep=lambda _s: None,
    )


def test_element_checks(fake: tuple[FakeTencent, str]) -> None:
    _, url = fake
    tencent = adapter(url)
    ok = tencent.verify_id2(name="张三", id_number=ZHANG.id_number)
    assert ok.outcome is Outcome.MATCH and not ok.sandbox and ok.transaction_id.startswith("req-")
    assert tencent.verify_id2(name="李四", id_number=ZHANG.id_number).outcome is Outcome.MISMATCH
    assert tencent.verify_id2(name="张三", id_number="110105194912310037").outcome is Outcome.NOT_FOUND
    with pytest.raises(ProviderUnavailable):  # "-4": the source is down, never a mismatch
        tencent.verify_id2(name="故障", id_number=ZHANG.id_number)
    assert (
        tencent.verify_mobile3(name="张三", id_number=ZHANG.id_number, mobile="13800138000").outcome
        == "match"
    )
    assert (
        tencent.verify_mobile3(name="张三", id_number=ZHANG.id_number, mobile="13900000000").outcome
        == "mismatch"
    )
    bank = tencent.verify_bank4(
        name="张三", id_number=ZHANG.id_number, card_number="6222000000000000", mobile="1"
    )
    assert bank.outcome is Outcome.MATCH


def test_signature_errors_and_transient_errors(fake: tuple[FakeTencent, str]) -> None:
    server, url = fake
    with pytest.raises(ProviderRejected, match=r"AuthFailure\.SignatureFailure"):
        adapter(url, secret_key="wrong").verify_id2(name="张三", id_number=ZHANG.id_number)
    tencent = adapter(url, retries=1)
    server.next_errors = ["InternalError"]
    assert tencent.verify_id2(name="张三", id_number=ZHANG.id_number).outcome is Outcome.MATCH  # retried
    server.next_errors = ["InternalError", "RequestLimitExceeded"]
    with pytest.raises(ProviderUnavailable):
        tencent.verify_id2(name="张三", id_number=ZHANG.id_number)
    server.next_errors = ["InvalidParameter.IdCard"]
    calls = len(server.calls)
    with pytest.raises(ProviderRejected):
        tencent.verify_id2(name="张三", id_number=ZHANG.id_number)
    assert len(server.calls) == calls + 1  # not retried


def test_face_detect_auth_and_polling(fake: tuple[FakeTencent, str]) -> None:
    server, url = fake
    tencent = adapter(url)
    session = tencent.create_certification(
        name="张三",
        id_number=ZHANG.id_number,
        return_url="https://p/return",
        callback_url="https://p/cb",
        reference="v-1",
    )
    assert session.certify_id == "biz-1" and session.redirect_url.startswith("https://faceid.example/")
    assert tencent.query_certification("biz-1").status is FaceStatus.PENDING
    server.face["biz-1"].update(ErrCode=0, Sim="93.50", LiveStatus=0)
    result = tencent.query_certification("biz-1")
    assert (result.status, result.similarity, result.liveness, result.reference) == (
        FaceStatus.PASSED,
        93.5,
        100.0,
        "v-1",
    )
    server.face["biz-1"].update(ErrCode=1001, Sim="20.00", LiveStatus=1)
    assert tencent.query_certification("biz-1").status is FaceStatus.FAILED
    with pytest.raises(CallbackRejected):
        tencent.parse_callback(method="POST", path="/cb", headers={}, body=b"{}")
