"""Tables of signed API access: organization API keys, remembered nonces, rate-limit windows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime, new_id


class OrgApiKey(Base):
    """An organization's API key. The secret is stored encrypted (the server needs it to check HMACs)."""

    __tablename__ = "org_api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key_id: Mapped[str] = mapped_column(String(80), unique=True)  # public: X-Sealpact-Key
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # The member who created it (accountability only: the key does not act as them).
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # The key's own identity: a login-less user, member of the organization, that owns what the key makes.
    service_user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_enc: Mapped[str] = mapped_column(Text)  # FieldCipher token, purpose "apikey.secret"
    scopes: Mapped[str] = mapped_column(String(255))  # space-separated scope names
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiNonce(Base):
    """A nonce seen with a key; the primary key makes a second insert (a replay) fail in any process."""

    __tablename__ = "api_nonces"
    __table_args__ = (Index("ix_api_nonces_expires_at", "expires_at"),)

    key_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiRateWindow(Base):
    """Requests counted per key in one fixed window (the database rate-limit store)."""

    __tablename__ = "api_rate_windows"

    key_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Unix seconds
    count: Mapped[int] = mapped_column(Integer, default=0)
