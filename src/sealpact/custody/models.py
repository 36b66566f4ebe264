"""The custody_keys table: one row per signer key, PIN-wrapped; retired rows are kept (their certificates
are revoked) so a later dispute can still tell which key a signature was made with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime


class CustodyKey(Base):
    __tablename__ = "custody_keys"
    __table_args__ = (Index("ix_custody_keys_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the key id bound into KDF and AAD
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))  # who controls it
    subject_type: Mapped[str] = mapped_column(String(16))  # individual | enterprise (the certificate's)
    subject_id: Mapped[str] = mapped_column(String(36))
    # "<user>|<subject type>|<subject id>" while active, NULL once retired: at most one active key per
    # signer and identity, enforced by the unique index on both databases (NULLs never collide).
    slot: Mapped[str | None] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # active | retired
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # SubjectPublicKeyInfo DER
    certificate_serial: Mapped[str] = mapped_column(String(40))
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    chain: Mapped[str] = mapped_column(Text)  # issuing CA upward, base64 DER, comma separated
    kdf: Mapped[str] = mapped_column(String(64))  # Argon2id parameters of this wrapping
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    server_share_enc: Mapped[str] = mapped_column(Text)  # WrappedKey under the keyring, context = key id
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)  # nonce ‖ AES-256-GCM(KEK_user, PKCS#8)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pin_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
