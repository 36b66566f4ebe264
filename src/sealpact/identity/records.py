"""Shared pieces of the identity services: dependencies, policy, views (masked), state bookkeeping.

Nothing here performs provider I/O; the services call providers *outside* database transactions and
record the outcome in a short transaction afterwards, so a slow provider never holds a lock.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sealpact.accounts.throttle import Limit, ThrottleStore
from sealpact.clock import Clock
from sealpact.config import Settings
from sealpact.identity.masking import mask_bank_card, mask_id_number, mask_mobile, mask_name
from sealpact.identity.models import IdentityProfile, IdentityVerification
from sealpact.identity.providers import ProviderSet
from sealpact.pki.policy import SubjectIdentity

log = logging.getLogger("sealpact.identity")

# Field-cipher purposes: each has its own data keys (never the document keys).
P_NAME = "identity.name"
P_ID = "identity.id_number"
P_MOBILE = "identity.mobile"
P_CARD = "identity.bank_card"
P_ACCOUNT = "identity.bank_account"
P_CREDIT = "identity.credit_code"
P_CHALLENGE = "identity.challenge"


class SubjectType(StrEnum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"


class State(StrEnum):
    UNVERIFIED = "unverified"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class Method(StrEnum):
    ID2 = "id2"  # name + ID number: level 1
    MOBILE3 = "mobile3"  # + mobile registered to the person, then SMS: level 2
    BANK4 = "bank4"  # + bank card and its reserved mobile, then SMS: level 2
    FACE = "face"  # liveness + face vs. the public-security photo: level 3
    ENTERPRISE = "enterprise"  # registry check, then deposit or legal-rep authorisation: level 2


# Levels match sealpact.pki.policy.VerificationLevel (BASIC 1, STANDARD 2, ENHANCED 3).
METHOD_LEVEL = {Method.ID2: 1, Method.MOBILE3: 2, Method.BANK4: 2, Method.FACE: 3, Method.ENTERPRISE: 2}


PROVIDER_FAILURE_REASONS = frozenset({"provider_unavailable", "provider_rejected", "sandbox_refused"})


@dataclass(frozen=True)
class VerifiedIdentity:
    """The clear verified identity, for certificate issuance only (never displayed or logged)."""

    subject_type: str
    name: str
    unique_value: str  # resident ID number or credit code
    level: int
    sandbox: bool

    def __repr__(self) -> str:
        return f"VerifiedIdentity({self.subject_type}, level={self.level}, sandbox={self.sandbox})"


class Cipher(Protocol):
    """What the services need of :class:`sealpact.storage.fields.FieldCipher`."""

    def encrypt(self, plaintext: str, *, purpose: str, session: Session | None = None) -> str: ...

    def decrypt(self, token: str, *, purpose: str, session: Session | None = None) -> str: ...

    def lookup_hash(self, value: str, *, purpose: str, session: Session | None = None) -> str: ...


class CertificateLink(Protocol):
    """The PKI side: the identity a certificate is issued for; revocation when it is replaced."""

    def certificate_identity(self, verified: VerifiedIdentity) -> SubjectIdentity: ...

    def revoke_for_identity(self, *, subject_type: str, name: str, unique_value: str) -> int: ...


@dataclass(frozen=True)
class IdentityPolicy:
    sms_ttl: timedelta = timedelta(minutes=10)
    sms_max_attempts: int = 3
    deposit_ttl: timedelta = timedelta(hours=72)
    deposit_max_attempts: int = 3
    face_ttl: timedelta = timedelta(minutes=30)
    start_ttl: timedelta = timedelta(minutes=30)  # registry-passed enterprise waiting for step two
    face_threshold: float = 80.0
    # Provider-calling attempts (each costs a fee and probes the authority).
    account_attempts: Limit = field(default_factory=lambda: Limit(20, 86400, 3600))
    ip_attempts: Limit = field(default_factory=lambda: Limit(60, 3600, 3600))
    # Failures: mismatches, wrong codes and amounts, invalid input.
    account_failures: Limit = field(default_factory=lambda: Limit(5, 86400, 3600))
    id_failures: Limit = field(default_factory=lambda: Limit(5, 86400, 86400))
    # Rejected (forged, replayed, late) provider callbacks per source IP.
    callback_failures: Limit = field(default_factory=lambda: Limit(50, 3600, 3600))


@dataclass(frozen=True)
class IdentityDeps:
    sessions: sessionmaker[Session]
    settings: Settings
    clock: Clock
    fields: Cipher
    throttle: ThrottleStore
    providers: ProviderSet
    policy: IdentityPolicy
    certificates: CertificateLink | None = None


@dataclass(frozen=True)
class StatusView:
    """An account's verification state for display; personal data only masked."""

    subject_type: str
    subject_id: str
    state: str
    level: int
    method: str | None
    provider: str | None
    sandbox: bool
    verified_at: datetime | None
    reason: str | None
    name: str | None  # masked for persons
    id_number: str | None  # masked
    mobile: str | None  # masked
    enterprise_name: str | None
    credit_code: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "state": self.state,
            "level": self.level,
            "method": self.method,
            "provider": self.provider,
            "sandbox": self.sandbox,
            "verified_at": self.verified_at.isoformat() if self.verified_at else None,
            "reason": self.reason,
            "name": self.name,
            "id_number": self.id_number,
            "mobile": self.mobile,
            "enterprise_name": self.enterprise_name,
            "credit_code": self.credit_code,
        }


@dataclass(frozen=True)
class VerificationView:
    id: str
    subject_type: str
    method: str
    status: str
    step: str
    level: int
    provider: str | None
    sandbox: bool
    expires_at: datetime
    failure_reason: str | None
    attempts_left: int | None
    redirect_url: str | None = None
    masked: dict[str, str] = field(default_factory=dict)
    deposit_remark: str | None = None
    transactions: tuple[str, ...] = ()
    initiated_by: str | None = None  # the user who started it (the agent, for enterprises)
    agent_verification_id: str | None = None  # the agent's own individual verification

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject_type": self.subject_type,
            "method": self.method,
            "status": self.status,
            "step": self.step,
            "level": self.level,
            "provider": self.provider,
            "sandbox": self.sandbox,
            "expires_at": self.expires_at.isoformat(),
            "failure_reason": self.failure_reason,
            "attempts_left": self.attempts_left,
            "redirect_url": self.redirect_url,
            "masked": dict(self.masked),
            "deposit_remark": self.deposit_remark,
            "provider_transactions": list(self.transactions),
            "initiated_by": self.initiated_by,
            "agent_verification_id": self.agent_verification_id,
        }


def add_transaction(verification: IdentityVerification, transaction_id: str) -> None:
    ids: list[str] = json.loads(verification.transactions or "[]")
    ids.append(transaction_id[:128])
    verification.transactions = json.dumps(ids)


def get_profile(session: Session, subject_type: str, subject_id: str, now: datetime) -> IdentityProfile:
    profile = session.scalars(
        select(IdentityProfile).where(
            IdentityProfile.subject_type == subject_type, IdentityProfile.subject_id == subject_id
        )
    ).one_or_none()
    if profile is None:
        profile = IdentityProfile(
            subject_type=subject_type,
            subject_id=subject_id,
            state=State.UNVERIFIED.value,
            level=0,
            sandbox=False,
            updated_at=now,
        )
        session.add(profile)
        session.flush()
    return profile


def settle_state(profile: IdentityProfile, latest: IdentityVerification, now: datetime) -> None:
    """The profile's state after ``latest`` changed: a verified identity stays verified until replaced.

    unverified -> pending (an attempt is running) -> verified (method, level, provider, time) or
    rejected (reason). A failed re-verification of a verified account leaves it verified.
    """
    profile.updated_at = now
    if profile.verified_at is not None and profile.level > 0:
        profile.state = State.VERIFIED.value
        return
    if latest.status == "pending":
        profile.state, profile.reason = State.PENDING.value, None
    elif latest.failure_reason in PROVIDER_FAILURE_REASONS:
        # Nothing was learnt about the identity: back to unverified, with the outage as the reason.
        profile.state, profile.reason = State.UNVERIFIED.value, latest.failure_reason
    elif latest.status in ("failed", "expired"):
        profile.state, profile.reason = State.REJECTED.value, latest.failure_reason


def status_view(
    profile: IdentityProfile | None, fields: Cipher, subject_type: str, subject_id: str
) -> StatusView:
    if profile is None:
        return StatusView(
            subject_type,
            subject_id,
            State.UNVERIFIED.value,
            0,
            None,
            None,
            False,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
    name = fields.decrypt(profile.name_enc, purpose=P_NAME) if profile.name_enc else None
    id_number = fields.decrypt(profile.id_number_enc, purpose=P_ID) if profile.id_number_enc else None
    mobile = fields.decrypt(profile.mobile_enc, purpose=P_MOBILE) if profile.mobile_enc else None
    return StatusView(
        subject_type=profile.subject_type,
        subject_id=profile.subject_id,
        state=profile.state,
        level=profile.level,
        method=profile.method,
        provider=profile.provider,
        sandbox=profile.sandbox,
        verified_at=profile.verified_at,
        reason=profile.reason,
        name=mask_name(name) if name else None,
        id_number=mask_id_number(id_number) if id_number else None,
        mobile=mask_mobile(mobile) if mobile else None,
        enterprise_name=profile.enterprise_name,
        credit_code=profile.credit_code,
    )


def verification_view(
    v: IdentityVerification, fields: Cipher, policy: IdentityPolicy, redirect_url: str | None = None
) -> VerificationView:
    masked: dict[str, str] = {}
    if v.name_enc:
        masked["name"] = mask_name(fields.decrypt(v.name_enc, purpose=P_NAME))
    if v.id_number_enc:
        masked["id_number"] = mask_id_number(fields.decrypt(v.id_number_enc, purpose=P_ID))
    if v.mobile_enc:
        masked["mobile"] = mask_mobile(fields.decrypt(v.mobile_enc, purpose=P_MOBILE))
    if v.card_enc:
        masked["card_number"] = mask_bank_card(fields.decrypt(v.card_enc, purpose=P_CARD))
    if v.account_enc:
        masked["account_number"] = mask_bank_card(fields.decrypt(v.account_enc, purpose=P_ACCOUNT))
    if v.legal_rep_name_enc:
        masked["legal_rep_name"] = mask_name(fields.decrypt(v.legal_rep_name_enc, purpose=P_NAME))
    if v.enterprise_name:
        masked["enterprise_name"] = v.enterprise_name
    if v.credit_code:
        masked["credit_code"] = v.credit_code
    attempts_left: int | None = None
    if v.challenge_hash is not None:
        limit = policy.deposit_max_attempts if v.step.startswith("deposit") else policy.sms_max_attempts
        attempts_left = max(0, limit - v.challenge_attempts)
    return VerificationView(
        id=v.id,
        subject_type=v.subject_type,
        method=v.method,
        status=v.status,
        step=v.step,
        level=v.level,
        provider=v.provider,
        sandbox=v.sandbox,
        expires_at=v.expires_at,
        failure_reason=v.failure_reason,
        attempts_left=attempts_left,
        redirect_url=redirect_url,
        masked=masked,
        deposit_remark=v.deposit_remark,
        transactions=tuple(json.loads(v.transactions or "[]")),
        initiated_by=v.initiated_by,
        agent_verification_id=v.agent_verification_id,
    )


def encrypt_values(f: Cipher, session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Column values for a verification row: personal data encrypted, the ID number also hashed."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key == "name":
            out["name_enc"] = f.encrypt(value, purpose=P_NAME, session=session)
        elif key == "id_number":
            out["id_number_enc"] = f.encrypt(value, purpose=P_ID, session=session)
            out["id_hash"] = f.lookup_hash(value, purpose=P_ID, session=session)
        elif key == "mobile":
            out["mobile_enc"] = f.encrypt(value, purpose=P_MOBILE, session=session)
        elif key == "card":
            out["card_enc"] = f.encrypt(value, purpose=P_CARD, session=session)
        else:
            out[key] = value
    return out


def replaced_identity(
    fields: Cipher, session: Session, profile: IdentityProfile, v: IdentityVerification
) -> tuple[str, str, str] | None:
    """(kind, old name, old ID number / credit code) when ``v`` changes a verified identity."""
    if profile.verified_at is None:
        return None
    if v.subject_type == SubjectType.ENTERPRISE:
        if profile.credit_code == v.credit_code and profile.enterprise_name == v.enterprise_name:
            return None
        return ("enterprise", profile.enterprise_name or "", profile.credit_code or "")
    if profile.id_hash == v.id_hash and profile.name_enc and v.name_enc:
        old = fields.decrypt(profile.name_enc, purpose=P_NAME, session=session)
        new = fields.decrypt(v.name_enc, purpose=P_NAME, session=session)
        if old == new:
            return None
    old_name = fields.decrypt(profile.name_enc, purpose=P_NAME, session=session) if profile.name_enc else ""
    old_id = (
        fields.decrypt(profile.id_number_enc, purpose=P_ID, session=session) if profile.id_number_enc else ""
    )
    return ("individual", old_name, old_id)


def revoke_quietly(link: Any, kind: str, name: str, value: str) -> None:
    try:
        count = link.revoke_for_identity(subject_type=kind, name=name, unique_value=value)
        log.info("revoked %d certificate(s) of a replaced %s identity", count, kind)
    except Exception:  # the identity change is committed; a failed revocation must be visible, not fatal
        log.exception("revoking certificates of a replaced %s identity failed; revoke them by hand", kind)


def human_duration(seconds: int) -> str:
    if seconds >= 3600:
        return f"{(seconds + 3599) // 3600} hour(s)"
    return f"{(seconds + 59) // 60} minute(s)"
