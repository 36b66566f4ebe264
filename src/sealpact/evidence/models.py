"""Tables of the evidence transparency log (migration ``0009_evidence``).

Append-only by construction: database triggers (see the migration) refuse any UPDATE or DELETE of an
integrated entry, a full tile, an entry bundle, a checkpoint or a TSA anchor. The only mutable rows are
:class:`LogState` (the pointer to the latest checkpoint, itself checked for consistency before it moves)
and :class:`WitnessedLog` (a witness's latest cosigned size per origin, tlog-witness "add-checkpoint").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime

BigInt = BigInteger().with_variant(Integer(), "sqlite")

#: ``evidence_tiles.level`` of entry bundles (tlog-tiles ``tile/entries/<N>``); hash tiles use 0..63.
ENTRIES_LEVEL = -1


class LogState(Base):
    """The one row describing the log: identity, and the latest integrated, signed tree."""

    __tablename__ = "evidence_log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    origin: Mapped[str] = mapped_column(String(255))
    key_name: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))  # Ed25519, raw
    size: Mapped[int] = mapped_column(BigInt)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    checkpoint: Mapped[str] = mapped_column(Text)  # latest signed note (with any cosignatures)
    audit_seq: Mapped[int] = mapped_column(BigInt, default=0)  # highest audit event seq covered so far
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogEntry(Base):
    """A log entry: staged with ``leaf_index`` NULL in the writer's transaction, indexed by the sequencer."""

    __tablename__ = "evidence_entries"
    __table_args__ = (
        Index("ix_evidence_entries_pending", "leaf_index", "staged_seq"),
        {"sqlite_autoincrement": True},
    )

    staged_seq: Mapped[int] = mapped_column(BigInt, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    leaf_index: Mapped[int | None] = mapped_column(BigInt, unique=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary)  # canonical entry (sealpact.evidence.entries)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    audit_seq: Mapped[int | None] = mapped_column(BigInt, unique=True)  # set for audit-event coverage
    staged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceRecordRow(Base):
    """The full evidence record behind an entry, encrypted (FieldCipher, purpose ``evidence.record``)."""

    __tablename__ = "evidence_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)  # keyed hash of the contract id
    record_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    record_enc: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoredTile(Base):
    """A tile body (``level >= 0``) or entry bundle (``level == -1``) as served under ``/log/tile/``.

    A partial tile is replaced by a wider one (the narrower row is then deleted: its bytes are a prefix
    of the wider one, so nothing is lost); full tiles are immutable.
    """

    __tablename__ = "evidence_tiles"

    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    tile_index: Mapped[int] = mapped_column(BigInt, primary_key=True)
    width: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class StoredCheckpoint(Base):
    """Every checkpoint the log signed, by size: the history the log must stay consistent with."""

    __tablename__ = "evidence_checkpoints"

    size: Mapped[int] = mapped_column(BigInt, primary_key=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckpointAnchor(Base):
    """An RFC 3161 time-stamp token over a signed checkpoint note (SHA-256 of the note bytes)."""

    __tablename__ = "evidence_anchors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    size: Mapped[int] = mapped_column(BigInt, index=True)
    note_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    token: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(200))
    gen_time: Mapped[datetime] = mapped_column(UTCDateTime())


class WitnessedLog(Base):
    """tlog-witness: the latest checkpoint this instance cosigned for one log origin."""

    __tablename__ = "evidence_witnessed_logs"

    origin: Mapped[str] = mapped_column(String(255), primary_key=True)
    size: Mapped[int] = mapped_column(BigInt)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    checkpoint: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
