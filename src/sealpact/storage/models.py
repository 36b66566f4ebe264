"""Tables of the storage domain: blob metadata (with each blob's wrapped data key) and domain data keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime


class Blob(Base):
    """One encrypted object in the blob store.

    The wrapped data key lives here, not only in the object, so a KEK rotation re-wraps keys with a
    row update and never rewrites the (possibly large) ciphertext.
    """

    __tablename__ = "blobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)  # plaintext bytes
    sha256: Mapped[str] = mapped_column(String(64))  # plaintext SHA-256, hex
    content_type: Mapped[str] = mapped_column(String(255))
    format_version: Mapped[int] = mapped_column(Integer)
    chunk_size: Mapped[int] = mapped_column(Integer)
    stored_size: Mapped[int] = mapped_column(BigInteger)  # ciphertext bytes in the backend
    wrapped_key: Mapped[str] = mapped_column(Text)
    kek_id: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DataKey(Base):
    """A per-domain data key (e.g. field encryption for one purpose), wrapped by a KEK."""

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    wrapped_key: Mapped[str] = mapped_column(Text)
    kek_id: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
