"""Provider Protocols (one per verification method) and the results they return.

Every external authority sits behind one of these: the public-security identity service (two
elements), carriers (three elements), banks/UnionPay (four elements), face verification (WeChat /
Alipay / Tencent style redirect + callback), the enterprise registry, the payment provider for
micro-deposits, and the SMS gateway. Each result carries the provider's transaction id (recorded with
every attempt) and whether it came from a sandbox.

Raising contract for every method: :class:`~sealpact.identity.errors.ProviderUnavailable` for
timeouts, connection failures, 5xx and unreadable answers; :class:`ProviderRejected` when the provider
refuses our request. A *mismatch* is a normal result (``Outcome.MISMATCH``), never an exception here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"  # the source knows the identity and the elements do not fit together
    NOT_FOUND = "not_found"  # the source has no record (treated as a mismatch by the service)


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    transaction_id: str
    provider: str
    sandbox: bool
    detail: str | None = None  # provider's machine code (never personal data)


@dataclass(frozen=True)
class DeliveryReceipt:
    """An SMS sent or a payment transfer accepted."""

    transaction_id: str
    provider: str
    sandbox: bool


class FaceStatus(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class FaceSession:
    certify_id: str
    redirect_url: str  # where the user's browser goes to take the face verification
    transaction_id: str
    provider: str
    sandbox: bool


@dataclass(frozen=True)
class FaceResult:
    certify_id: str
    status: FaceStatus
    similarity: float | None  # 0..100, face vs. the public-security photo
    liveness: float | None  # 0..100
    transaction_id: str
    provider: str
    sandbox: bool
    reference: str | None = None  # our verification id echoed back (binds callbacks to the request)
    detail: str | None = None


class _Provider(Protocol):
    @property
    def provider_name(self) -> str: ...

    @property
    def sandbox(self) -> bool: ...


class PersonRegistry(_Provider, Protocol):
    """Public-security identity check: name + resident ID number (two elements)."""

    def verify_id2(self, *, name: str, id_number: str) -> CheckResult: ...


class CarrierVerifier(_Provider, Protocol):
    """Carrier check: name + ID number + mobile number registered to that person (three elements)."""

    def verify_mobile3(self, *, name: str, id_number: str, mobile: str) -> CheckResult: ...


class BankCardVerifier(_Provider, Protocol):
    """Bank/UnionPay check: name + ID + card number + the card's reserved mobile (four elements)."""

    def verify_bank4(self, *, name: str, id_number: str, card_number: str, mobile: str) -> CheckResult: ...


class SmsSender(_Provider, Protocol):
    def send_sms(self, *, mobile: str, text: str, idempotency_key: str) -> DeliveryReceipt: ...


class FaceVerifier(_Provider, Protocol):
    """Redirect/callback face verification (the shape of WeChat, Alipay and Tencent face products)."""

    def create_certification(
        self, *, name: str, id_number: str, return_url: str, callback_url: str, reference: str
    ) -> FaceSession: ...

    def query_certification(self, certify_id: str) -> FaceResult: ...

    def parse_callback(
        self, *, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> FaceResult:
        """Authenticate a provider callback and return its result; raise CallbackRejected otherwise.

        Signature, timestamp window and nonce are checked here; binding to our pending request
        (certify id, reference, expiry) is checked by the service.
        """
        ...


class EnterpriseRegistry(_Provider, Protocol):
    """Enterprise registry: enterprise name + unified social credit code + legal representative."""

    def verify_enterprise(self, *, name: str, credit_code: str, legal_rep_name: str) -> CheckResult: ...


class PaymentTransfer(_Provider, Protocol):
    """Pays the micro-deposit into the corporate account (the remark carries a random code)."""

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
        """MATCH: transfer accepted; MISMATCH/NOT_FOUND: the bank refused the account or its name."""
        ...


@dataclass(frozen=True)
class ProviderSet:
    """The providers a deployment uses, one per method; ``None`` where a method is not offered."""

    person: PersonRegistry | None = None
    carrier: CarrierVerifier | None = None
    bank_card: BankCardVerifier | None = None
    sms: SmsSender | None = None
    face: FaceVerifier | None = None
    enterprise: EnterpriseRegistry | None = None
    payment: PaymentTransfer | None = None
