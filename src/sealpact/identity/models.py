"""Tables of the identity domain: per-subject status, verification attempts, callback nonces.

Personal data (names of persons, ID, card, mobile and account numbers) is stored only as field-cipher
tokens (``*_enc``, purposes ``identity.*``: their own data keys, separate from document keys), plus
keyed lookup hashes (``id_hash``) where equality is needed. Enterprise names and credit codes are
public registry data and stored in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime, new_id


class IdentityProfile(Base):
    """The verification state of one subject (a user, or an organization)."""

    __tablename__ = "identity_profiles"
    # One verified account per ID number (or credit code): the hash is set only while verified.
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id"),
        UniqueConstraint("subject_type", "id_hash"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    subject_type: Mapped[str] = mapped_column(String(16))  # individual | enterprise
    subject_id: Mapped[str] = mapped_column(String(36))  # users.id | organizations.id
    state: Mapped[str] = mapped_column(String(16))  # unverified | pending | verified | rejected
    level: Mapped[int] = mapped_column(Integer, default=0)
    method: Mapped[str | None] = mapped_column(String(32))
    provider: Mapped[str | None] = mapped_column(String(64))
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(64))  # rejection reason code
    verification_id: Mapped[str | None] = mapped_column(String(36))  # the attempt that set the state
    name_enc: Mapped[str | None] = mapped_column(Text)  # individuals: the verified name
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    id_hash: Mapped[str | None] = mapped_column(String(64))
    mobile_enc: Mapped[str | None] = mapped_column(Text)  # a mobile number proven by mobile3 / bank4
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdentityVerification(Base):
    """One attempt at one method, from start to verified / failed / expired."""

    __tablename__ = "identity_verifications"
    __table_args__ = (Index("ix_identity_verifications_subject", "subject_type", "subject_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str] = mapped_column(String(36))
    initiated_by: Mapped[str | None] = mapped_column(String(36))  # the user (agent for enterprises)
    method: Mapped[str] = mapped_column(String(32))
    level: Mapped[int] = mapped_column(Integer, default=0)  # what success grants
    status: Mapped[str] = mapped_column(String(16))  # pending | verified | failed | expired
    step: Mapped[str] = mapped_column(String(32))  # e.g. sms_sent, face_redirected, deposit_sent
    provider: Mapped[str | None] = mapped_column(String(64))
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    transactions: Mapped[str] = mapped_column(Text, default="[]")  # provider transaction ids, JSON

    name_enc: Mapped[str | None] = mapped_column(Text)
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    id_hash: Mapped[str | None] = mapped_column(String(64))
    mobile_enc: Mapped[str | None] = mapped_column(Text)
    card_enc: Mapped[str | None] = mapped_column(Text)

    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18))
    legal_rep_name_enc: Mapped[str | None] = mapped_column(Text)
    account_enc: Mapped[str | None] = mapped_column(Text)
    bank_name: Mapped[str | None] = mapped_column(String(100))
    agent_verification_id: Mapped[str | None] = mapped_column(String(36))  # agent's own verification
    authorisation: Mapped[str | None] = mapped_column(String(16))  # deposit | legal_rep

    # One-time challenge (SMS code or deposit amount): only a keyed hash bound to this attempt.
    challenge_hash: Mapped[str | None] = mapped_column(String(64))
    challenge_attempts: Mapped[int] = mapped_column(Integer, default=0)
    challenge_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deposit_remark: Mapped[str | None] = mapped_column(String(16))

    face_certify_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    similarity: Mapped[str | None] = mapped_column(String(16))
    liveness: Mapped[str | None] = mapped_column(String(16))

    failure_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdentityNonce(Base):
    """Nonces of accepted provider callbacks, kept for the signature window (replay defence)."""

    __tablename__ = "identity_nonces"

    nonce: Mapped[str] = mapped_column(String(160), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
