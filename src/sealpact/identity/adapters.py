"""Adapter for the sealpact provider contract over signed HTTP (the sandbox authority speaks it).

A production deployment can point this adapter at a gateway that speaks the same contract in front
of its contracted authorities; vendor APIs with their own wire format get their own adapter against
the same Protocols (see :mod:`sealpact.identity.tencent`).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sealpact.clock import Clock
from sealpact.identity.errors import CallbackRejected, ProviderUnavailable, SandboxRefused
from sealpact.identity.http import SignedHttpClient
from sealpact.identity.providers import (
    CheckResult,
    DeliveryReceipt,
    FaceResult,
    FaceSession,
    FaceStatus,
    Outcome,
)
from sealpact.identity.signing import NonceStore, verify_signed

log = logging.getLogger("sealpact.identity.adapters")


def _text(body: Any, name: str, provider: str) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value or len(value) > 256:
        raise ProviderUnavailable(f"The {provider} identity provider sent an incomplete answer.")
    return value


def _score(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class ContractProvider:
    """Implements every provider Protocol over the sealpact HTTP contract.

    ``sandbox`` is what the deployment believes; an answer that says ``"sandbox": true`` is marked
    sandbox whatever the configuration, and refused when ``allow_sandbox`` is false (a production
    configuration that points at a sandbox by mistake).
    """

    def __init__(
        self,
        client: SignedHttpClient,
        *,
        clock: Clock,
        nonces: NonceStore,
        sandbox: bool,
        allow_sandbox: bool,
    ) -> None:
        self._client = client
        self._clock = clock
        self._nonces = nonces
        self._sandbox = sandbox
        self._allow_sandbox = allow_sandbox

    @property
    def provider_name(self) -> str:
        return self._client.provider

    @property
    def sandbox(self) -> bool:
        return self._sandbox

    def close(self) -> None:
        self._client.close()

    # -- plumbing ----------------------------------------------------------------------------------

    def _marked(self, body: Any) -> bool:
        flagged = isinstance(body, dict) and body.get("sandbox") is True
        if flagged and not self._allow_sandbox:
            raise SandboxRefused("The identity provider answered as a sandbox, which production refuses.")
        return flagged or self._sandbox

    def _post(self, path: str, payload: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        body = self._client.call(
            "POST", path, payload, idempotency_key=idempotency_key or secrets.token_hex(16)
        )
        if not isinstance(body, dict):
            raise ProviderUnavailable(
                f"The {self.provider_name} identity provider sent an unreadable answer."
            )
        return body

    def _check(self, body: dict[str, Any]) -> CheckResult:
        sandbox = self._marked(body)
        try:
            outcome = Outcome(str(body.get("result")))
        except ValueError:
            raise ProviderUnavailable(
                f"The {self.provider_name} identity provider sent an unknown result."
            ) from None
        detail = body.get("detail")
        return CheckResult(
            outcome=outcome,
            transaction_id=_text(body, "transaction_id", self.provider_name),
            provider=self.provider_name,
            sandbox=sandbox,
            detail=detail if isinstance(detail, str) and detail.isascii() and len(detail) < 64 else None,
        )

    # -- Protocols ---------------------------------------------------------------------------------

    def verify_id2(self, *, name: str, id_number: str) -> CheckResult:
        return self._check(self._post("/v1/person/verify", {"name": name, "id_number": id_number}))

    def verify_mobile3(self, *, name: str, id_number: str, mobile: str) -> CheckResult:
        payload = {"name": name, "id_number": id_number, "mobile": mobile}
        return self._check(self._post("/v1/carrier/verify", payload))

    def verify_bank4(self, *, name: str, id_number: str, card_number: str, mobile: str) -> CheckResult:
        payload = {"name": name, "id_number": id_number, "card_number": card_number, "mobile": mobile}
        return self._check(self._post("/v1/bankcard/verify", payload))

    def send_sms(self, *, mobile: str, text: str, idempotency_key: str) -> DeliveryReceipt:
        body = self._post("/v1/sms/send", {"mobile": mobile, "text": text}, idempotency_key)
        return DeliveryReceipt(
            transaction_id=_text(body, "transaction_id", self.provider_name),
            provider=self.provider_name,
            sandbox=self._marked(body),
        )

    def verify_enterprise(self, *, name: str, credit_code: str, legal_rep_name: str) -> CheckResult:
        payload = {"name": name, "credit_code": credit_code, "legal_rep_name": legal_rep_name}
        return self._check(self._post("/v1/enterprise/verify", payload))

    def transfer(
        self,
        *,
        account_name: str,
        account_number: str,
        bank_name: str,
        amount_fen: int,
        remark: str,
        idempotency_key: str,
    ) -> CheckResult:
        payload = {
            "account_name": account_name,
            "account_number": account_number,
            "bank_name": bank_name,
            "amount_fen": amount_fen,
            "remark": remark,
        }
        return self._check(self._post("/v1/payments/transfers", payload, idempotency_key))

    def create_certification(
        self, *, name: str, id_number: str, return_url: str, callback_url: str, reference: str
    ) -> FaceSession:
        payload = {
            "name": name,
            "id_number": id_number,
            "return_url": return_url,
            "callback_url": callback_url,
            "reference": reference,
        }
        body = self._post("/v1/face/certifications", payload, reference)
        return FaceSession(
            certify_id=_text(body, "certify_id", self.provider_name),
            redirect_url=_text(body, "url", self.provider_name),
            transaction_id=_text(body, "transaction_id", self.provider_name),
            provider=self.provider_name,
            sandbox=self._marked(body),
        )

    def query_certification(self, certify_id: str) -> FaceResult:
        body = self._client.call(
            "GET", f"/v1/face/certifications/{quote(certify_id, safe='')}", None, idempotency_key=certify_id
        )
        if not isinstance(body, dict):
            raise ProviderUnavailable(
                f"The {self.provider_name} identity provider sent an unreadable answer."
            )
        return self._face_result(body)

    def parse_callback(
        self, *, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> FaceResult:
        verify_signed(
            method=method,
            path=path,
            headers=headers,
            body=body,
            secrets_by_key={self._client.key_id: self._client.secret},
            now=self._clock.now(),
            nonces=self._nonces,
        )
        try:
            data = json.loads(body)
        except ValueError:
            raise CallbackRejected("The callback body is not JSON.") from None
        if not isinstance(data, dict):
            raise CallbackRejected("The callback body is not a JSON object.")
        try:
            return self._face_result(data)
        except ProviderUnavailable:
            raise CallbackRejected("The callback is incomplete.") from None

    def _face_result(self, body: dict[str, Any]) -> FaceResult:
        try:
            status = FaceStatus(str(body.get("status")))
        except ValueError:
            raise ProviderUnavailable(
                f"The {self.provider_name} identity provider sent an unknown face status."
            ) from None
        reference = body.get("reference")
        detail = body.get("detail")
        return FaceResult(
            certify_id=_text(body, "certify_id", self.provider_name),
            status=status,
            similarity=_score(body, "similarity"),
            liveness=_score(body, "liveness"),
            transaction_id=_text(body, "transaction_id", self.provider_name),
            provider=self.provider_name,
            sandbox=self._marked(body),
            reference=reference if isinstance(reference, str) else None,
            detail=detail if isinstance(detail, str) and detail.isascii() and len(detail) < 64 else None,
        )
