"""The audit_events table. Rows are never updated or deleted (database triggers enforce it, see 0002)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime

# INTEGER PRIMARY KEY on SQLite (with AUTOINCREMENT: never reused), BIGINT identity on PostgreSQL.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("ix_audit_events_actor_user_id", "actor_user_id"),
        Index("ix_audit_events_organization_id", "organization_id"),
        {"sqlite_autoincrement": True},
    )

    # Monotonically increasing sequence number: the order the evidence log later commits to.
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_kind: Mapped[str] = mapped_column(String(16))  # user | api_token | system | anonymous
    actor_user_id: Mapped[str | None] = mapped_column(String(36))
    actor_token_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    organization_id: Mapped[str | None] = mapped_column(String(36))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Canonical JSON text (sorted keys), so the serialisation hashed later is the one stored.
    details: Mapped[str] = mapped_column(Text, default="{}")
