"""The appearances table: a user's or an organization's signature/seal image over encrypted blobs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime


class Appearance(Base):
    """One appearance. Exactly one owner: a user (personal signatures) or an organization (seals).

    ``blob_id`` holds the PNG; ``evidence_blob_id`` the capture evidence of a handwritten signature
    (canonical stroke JSON) or the original upload of a scanned seal. ``spec_json`` is what produced the
    image (seal spec, font family, pen width) - never personal data beyond what the image shows.
    """

    __tablename__ = "appearances"
    __table_args__ = (
        CheckConstraint("(owner_user_id IS NULL) <> (organization_id IS NULL)", name="one_owner"),
        Index("ix_appearances_owner_user_id", "owner_user_id", "created_at"),
        Index("ix_appearances_organization_id", "organization_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # handwritten | generated | seal | scan
    name: Mapped[str] = mapped_column(String(100))
    blob_id: Mapped[str] = mapped_column(ForeignKey("blobs.id", ondelete="RESTRICT"), unique=True)
    evidence_blob_id: Mapped[str | None] = mapped_column(
        ForeignKey("blobs.id", ondelete="RESTRICT"), unique=True
    )
    sha256: Mapped[str] = mapped_column(String(64))  # of the PNG
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    dpi: Mapped[int] = mapped_column(Integer)
    spec_json: Mapped[str] = mapped_column(Text, default="{}")
    text_verified: Mapped[bool] = mapped_column(Boolean, default=False)  # name/rim text = verified name
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
