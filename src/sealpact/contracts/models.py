"""Tables of the contracts domain.

Contacts (email, mobile) of parties are stored like account identifiers (plain, needed to deliver and
to match an account); they never reach logs, audit details or webhook payloads unmasked. Signing link
tokens, signer session tokens and one-time codes are stored only as SHA-256 digests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime, new_id


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        Index("ix_contracts_owner_created", "owner_user_id", "created_at", "id"),
        Index("ix_contracts_org_created", "organization_id", "created_at", "id"),
        Index("ix_contracts_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    expiry_days: Mapped[int] = mapped_column(Integer)
    reminder_every_days: Mapped[int | None] = mapped_column(Integer)
    template_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When it became completed / declined / cancelled / expired.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    certificate_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"))


class ContractDocument(Base):
    __tablename__ = "contract_documents"
    __table_args__ = (UniqueConstraint("contract_id", "position"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    source_type: Mapped[str] = mapped_column(String(128))  # the uploaded type (PDF, DOCX, ODT, DOC)
    source_blob_id: Mapped[str | None] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"))
    original_blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"))  # the PDF
    original_sha256: Mapped[str] = mapped_column(String(64))
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"))  # current revision
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    page_count: Mapped[int] = mapped_column(Integer)
    page_sizes: Mapped[list[list[float]]] = mapped_column(JSON)  # [[width, height], ...] in points
    revision: Mapped[int] = mapped_column(Integer, default=0)  # signatures applied so far
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Party(Base):
    __tablename__ = "contract_parties"
    __table_args__ = (UniqueConstraint("contract_id", "position"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # individual | enterprise
    role: Mapped[str] = mapped_column(String(16))  # signer | approver | cc
    routing_order: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))  # the person (for an enterprise: its signing member)
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))  # zh | en
    organization_id: Mapped[str | None] = mapped_column(String(36))  # enterprise parties: the signing org
    organization_name: Mapped[str | None] = mapped_column(String(200))
    seal_id: Mapped[str | None] = mapped_column(String(36))  # the enterprise seal to apply
    min_level: Mapped[int] = mapped_column(Integer, default=0)
    auth_method: Mapped[str] = mapped_column(String(16))  # account | sms_code | email_code
    intent_method: Mapped[str] = mapped_column(String(16))  # sms | totp
    role_name: Mapped[str | None] = mapped_column(String(64))  # the template role it fills
    status: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(36))  # the account that authenticated as this party
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    intent_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # signed / approved / declined
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    verified_level: Mapped[int | None] = mapped_column(Integer)  # the level seen at the gate
    verification_method: Mapped[str | None] = mapped_column(String(32))
    certificate_serial: Mapped[str | None] = mapped_column(String(64))


class ContractField(Base):
    __tablename__ = "contract_fields"
    __table_args__ = (UniqueConstraint("contract_id", "position"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("contract_documents.id", ondelete="CASCADE"))
    party_id: Mapped[str] = mapped_column(ForeignKey("contract_parties.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))
    page: Mapped[int] = mapped_column(Integer)  # 1-based
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    label: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(String(1000))  # text / checkbox values once filled


class ContractTemplate(Base):
    __tablename__ = "contract_templates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    page_sizes: Mapped[list[list[float]]] = mapped_column(JSON)
    roles: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{name, role, kind, order}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{role, kind, page, rect, required, label}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SigningLink(Base):
    """A single-use, expiring, party-bound link token (only its SHA-256 is stored)."""

    __tablename__ = "contract_signing_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"), index=True)
    party_id: Mapped[str] = mapped_column(ForeignKey("contract_parties.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignerSession(Base):
    """What a signing link is exchanged for: the signer's own short-lived session (hash stored)."""

    __tablename__ = "contract_signer_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    party_id: Mapped[str] = mapped_column(ForeignKey("contract_parties.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    authenticated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    auth_method: Mapped[str | None] = mapped_column(String(16))
    user_id: Mapped[str | None] = mapped_column(String(36))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_failures: Mapped[int] = mapped_column(Integer, default=0)  # wrong authenticator codes (intent)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class OneTimeCode(Base):
    """A short code sent to a party (authentication or intent), bound to a signer session and purpose."""

    __tablename__ = "contract_codes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("contract_signer_sessions.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))  # auth | intent
    channel: Mapped[str] = mapped_column(String(16))  # sms | email
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ContractEventRow(Base):
    """What happened to a contract, when, from where: the source of the certificate of completion."""

    __tablename__ = "contract_events"
    __table_args__ = (Index("ix_contract_events_contract_at", "contract_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id", ondelete="CASCADE"))
    party_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(48))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdempotencyRecord(Base):
    """A create/send request remembered by its Idempotency-Key, per user and operation."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    result_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
