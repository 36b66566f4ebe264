"""Tencent Cloud FaceID (腾讯云慧眼) adapter: two-, three- and four-element checks and H5 face verification.

Built from Tencent Cloud's public API documentation (API 3.0, service ``faceid``, version
``2018-03-01``, TC3-HMAC-SHA256 signing). It is tested against a small fake of that wire format on
loopback only; it has NEVER been run against the real service. Result-code mappings below are as
documented at the time of writing and must be re-checked before production use.

Actions used: ``IdCardVerification`` (name + ID), ``PhoneVerification`` (name + ID + mobile),
``BankCard4EVerification`` (name + ID + card + mobile), ``DetectAuth`` (start H5 face verification,
returns ``Url`` and ``BizToken``) and ``GetDetectInfoEnhanced`` (result: ``Text.ErrCode``, ``Text.Sim``).
DetectAuth has no signed server-to-server callback: the browser returns to ``RedirectUrl`` and the
platform polls, so :meth:`TencentFaceId.parse_callback` refuses every callback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from sealpact.clock import Clock
from sealpact.identity.errors import CallbackRejected, ProviderRejected, ProviderUnavailable
from sealpact.identity.providers import CheckResult, FaceResult, FaceSession, FaceStatus, Outcome

log = logging.getLogger("sealpact.identity.tencent")

SERVICE = "faceid"
VERSION = "2018-03-01"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
# Error codes that mean "try again later", not "your request is wrong".
_TRANSIENT_PREFIXES = (
    "InternalError",
    "RequestLimitExceeded",
    "ResourceUnavailable",
    "FailedOperation.UnKnown",
)
# Result codes per action meaning the authority itself was unavailable (never a mismatch).
_BUSY = {
    "IdCardVerification": {"-4", "-6"},
    "PhoneVerification": {"-11"},
    "BankCard4EVerification": {"-18"},
}
_NOT_FOUND = {"IdCardVerification": {"-5"}, "PhoneVerification": {"-9"}}
_QUOTA = {"IdCardVerification": {"-7"}}


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    action: str,
    payload: bytes,
    timestamp: int,
) -> str:
    """The ``Authorization`` header of API 3.0 (signature v3, TC3-HMAC-SHA256) for a JSON POST to ``/``."""
    date = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d")
    canonical_headers = f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{action.lower()}\n"
    signed_headers = "content-type;host;x-tc-action"
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest()]
    )
    scope = f"{date}/{SERVICE}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )

    def _hmac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), SERVICE), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )


class TencentFaceId:
    """PersonRegistry, CarrierVerifier, BankCardVerifier and FaceVerifier over Tencent Cloud FaceID."""

    def __init__(
        self,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        region: str,
        clock: Clock,
        rule_id: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._endpoint = endpoint.rstrip("/") + "/"
        self._host = urlsplit(self._endpoint).netloc
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._region = region
        self._rule_id = rule_id
        self._clock = clock
        self._retries = retries
        self._sleep = sleep
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    @property
    def provider_name(self) -> str:
        return "tencent-faceid"

    @property
    def sandbox(self) -> bool:
        return False

    def close(self) -> None:
        self._client.close()

    # -- transport -----------------------------------------------------------------------------------

    def _call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        attempt = 0
        while True:
            attempt += 1
            timestamp = int(self._clock.now().timestamp())
            headers = {
                "Content-Type": CONTENT_TYPE,
                "Host": self._host,
                "X-TC-Action": action,
                "X-TC-Version": VERSION,
                "X-TC-Timestamp": str(timestamp),
                "X-TC-Region": self._region,
                "Authorization": tc3_authorization(
                    secret_id=self._secret_id,
                    secret_key=self._secret_key,
                    host=self._host,
                    action=action,
                    payload=payload,
                    timestamp=timestamp,
                ),
            }
            try:
                response = self._client.post(self._endpoint, content=payload, headers=headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if attempt <= self._retries:
                    log.warning("tencent %s: %s, retrying", action, type(exc).__name__)
                    self._sleep(0.2 * attempt)
                    continue
                raise ProviderUnavailable(
                    "Tencent Cloud FaceID did not answer in time; try again later."
                ) from None
            transient = response.status_code >= 500
            body: dict[str, Any] = {}
            if not transient:
                body = _response_body(response)
                error = body.get("Error")
                if isinstance(error, dict):
                    code = str(error.get("Code", "Unknown"))[:64]
                    if not code.startswith(_TRANSIENT_PREFIXES):
                        log.warning(
                            "tencent %s refused: %s (request %s)", action, code, body.get("RequestId")
                        )
                        raise ProviderRejected(f"Tencent Cloud FaceID refused the request ({code}).")
                    transient = True
            if transient:
                if attempt <= self._retries:
                    self._sleep(0.2 * attempt)
                    continue
                raise ProviderUnavailable("Tencent Cloud FaceID is unavailable; try again later.")
            return body

    def _check(self, action: str, params: dict[str, Any]) -> CheckResult:
        body = self._call(action, params)
        result = str(body.get("Result", ""))
        request_id = str(body.get("RequestId", ""))[:128] or "unknown"
        if result in _BUSY.get(action, set()):
            raise ProviderUnavailable("The authoritative source behind Tencent Cloud FaceID is unavailable.")
        if result in _QUOTA.get(action, set()):
            raise ProviderRejected("Tencent Cloud FaceID's daily verification limit is reached.")
        if result == "0":
            outcome = Outcome.MATCH
        elif result in _NOT_FOUND.get(action, set()):
            outcome = Outcome.NOT_FOUND
        else:
            outcome = Outcome.MISMATCH
        detail = f"tencent_{result}" if result and len(result) < 8 else None
        return CheckResult(outcome, request_id, self.provider_name, False, detail)

    # -- Protocols -----------------------------------------------------------------------------------

    def verify_id2(self, *, name: str, id_number: str) -> CheckResult:
        return self._check("IdCardVerification", {"IdCard": id_number, "Name": name})

    def verify_mobile3(self, *, name: str, id_number: str, mobile: str) -> CheckResult:
        return self._check("PhoneVerification", {"IdCard": id_number, "Name": name, "Phone": mobile})

    def verify_bank4(self, *, name: str, id_number: str, card_number: str, mobile: str) -> CheckResult:
        params = {"Name": name, "BankCard": card_number, "Phone": mobile, "IdCard": id_number, "CertType": 0}
        return self._check("BankCard4EVerification", params)

    def create_certification(
        self, *, name: str, id_number: str, return_url: str, callback_url: str, reference: str
    ) -> FaceSession:
        if not self._rule_id:
            raise ProviderRejected("SEALPACT_TENCENT_FACE_RULE_ID is not configured.")
        body = self._call(
            "DetectAuth",
            {
                "RuleId": self._rule_id,
                "IdCard": id_number,
                "Name": name,
                "RedirectUrl": return_url,
                "Extra": reference,
            },
        )
        url, token = body.get("Url"), body.get("BizToken")
        if not isinstance(url, str) or not isinstance(token, str) or not token:
            raise ProviderUnavailable("Tencent Cloud FaceID sent an incomplete answer.")
        return FaceSession(token, url, str(body.get("RequestId", token))[:128], self.provider_name, False)

    def query_certification(self, certify_id: str) -> FaceResult:
        body = self._call(
            "GetDetectInfoEnhanced", {"BizToken": certify_id, "RuleId": self._rule_id, "InfoType": "0"}
        )
        text = body.get("Text") if isinstance(body.get("Text"), dict) else {}
        assert isinstance(text, dict)
        err = text.get("ErrCode")
        similarity = _float(text.get("Sim"))
        if err is None:
            status = FaceStatus.PENDING
        elif err == 0:
            status = FaceStatus.PASSED
        else:
            status = FaceStatus.FAILED
        # Tencent reports liveness as pass/fail (LiveStatus 0 = passed), not as a score.
        live = text.get("LiveStatus")
        liveness = None if live is None else (100.0 if live == 0 else 0.0)
        extra = text.get("Extra")
        return FaceResult(
            certify_id=certify_id,
            status=status,
            similarity=similarity,
            liveness=liveness,
            transaction_id=str(body.get("RequestId", certify_id))[:128],
            provider=self.provider_name,
            sandbox=False,
            reference=extra if isinstance(extra, str) else None,
            detail=f"tencent_{err}" if err not in (None, 0) else None,
        )

    def parse_callback(
        self, *, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> FaceResult:
        raise CallbackRejected(
            "Tencent Cloud FaceID results are polled, not called back.", code="callback_unsupported"
        )


def _response_body(response: httpx.Response) -> dict[str, Any]:
    try:
        decoded = response.json()
    except ValueError:
        decoded = None
    body = decoded.get("Response") if isinstance(decoded, dict) else None
    if not isinstance(body, dict):
        raise ProviderUnavailable("Tencent Cloud FaceID sent an unreadable answer.")
    return body


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None
