"""RFC 3161 anchoring of checkpoints (evidence issue part 4): a time-stamp token over SHA-256 of the signed
checkpoint note, from the platform TSA or an external one (``runtime.time_stamper``, a Protocol)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sealpact.db import new_id, transaction
from sealpact.evidence.models import CheckpointAnchor
from sealpact.evidence.service import EvidenceLog
from sealpact.pki.tsa_service import TimeStamper, request_timestamp


@dataclass(frozen=True)
class Anchor:
    size: int
    note_sha256: bytes
    token: bytes  # DER ContentInfo (SignedData with TSTInfo)
    source: str
    gen_time: datetime


def anchor_checkpoint(evidence: EvidenceLog, stamper: TimeStamper, size: int) -> Anchor:
    """Time-stamp the log-signed checkpoint of ``size`` and store the token (append-only)."""
    note = evidence.checkpoint_at(size)
    digest = hashlib.sha256(note).digest()
    stamped = request_timestamp(stamper, digest)
    with transaction(evidence.sessions) as session:
        session.add(
            CheckpointAnchor(
                id=new_id(),
                size=size,
                note_sha256=digest,
                token=stamped.token,
                source=stamped.source,
                gen_time=stamped.gen_time,
            )
        )
    return Anchor(size, digest, stamped.token, stamped.source, stamped.gen_time)


def anchors_for(evidence: EvidenceLog, size: int) -> list[Anchor]:
    with transaction(evidence.sessions) as session:
        rows = session.scalars(select(CheckpointAnchor).where(CheckpointAnchor.size == size)).all()
        return [Anchor(r.size, bytes(r.note_sha256), bytes(r.token), r.source, r.gen_time) for r in rows]
