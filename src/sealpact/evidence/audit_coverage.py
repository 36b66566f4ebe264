"""Audit-trail coverage (evidence issue part 5): every ``audit_events`` row is committed to by a log entry.

The sequencer stages ``SHA-256(audit.canonical_bytes(event))`` for each new event (see
:meth:`~sealpact.evidence.service.EvidenceLog.integrate_batch`), so no domain code changes. This module
checks the other way round, as ``sealpact evidence audit`` does:

1. the entries table replays to the root of the latest signed checkpoint (RFC 9162 §2.1.1), verified with
   the log key, so the entries themselves are what the log signed;
2. each audit event's canonical bytes hash to what its entry recorded (an edited row is found);
3. each audit entry still has its event (a deleted row is found), and every event is covered.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from sqlalchemy import select

from sealpact.audit.models import AuditEvent
from sealpact.audit.service import canonical_bytes
from sealpact.db import transaction
from sealpact.evidence.checkpoint import verify_checkpoint
from sealpact.evidence.entries import parse_entry
from sealpact.evidence.errors import EvidenceError
from sealpact.evidence.merkle import Frontier, leaf_hash
from sealpact.evidence.models import LogEntry
from sealpact.evidence.service import EvidenceLog

_PAGE = 5000


class AuditTampered(EvidenceError):
    code = "evidence_audit_tampered"
    http_status = 409


@dataclass(frozen=True, order=True)
class Finding:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"audit event {self.seq}: {self.problem}"


@dataclass
class AuditReport:
    tree_size: int = 0
    events_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return min(self.findings) if self.findings else None


def check_audit_trail(evidence: EvidenceLog, *, catch_up: bool = True) -> AuditReport:
    """Recompute and compare; the report lists every finding (``first`` is the lowest sequence number).

    Raises :class:`EvidenceError` subclasses when the log itself does not verify against its checkpoint.
    """
    if catch_up:
        evidence.run_until_idle()
    checkpoint = verify_checkpoint(evidence.checkpoint(), [evidence.verifier()], origin=evidence.origin)
    size = checkpoint.size
    report = AuditReport(tree_size=size)
    covered: dict[int, bytes] = {}
    audit_rows: list[tuple[int, int, bytes]] = []
    frontier = Frontier()
    with transaction(evidence.sessions) as session:
        # 1. Replay the entries in index order to the signed root.
        last = -1
        while True:
            rows = session.execute(
                select(LogEntry.leaf_index, LogEntry.entry, LogEntry.audit_seq)
                .where(LogEntry.leaf_index > last, LogEntry.leaf_index < size)
                .order_by(LogEntry.leaf_index)
                .limit(_PAGE)
            ).all()
            for index, data, audit_seq in rows:
                if index != frontier.size:
                    raise AuditTampered(f"log entry {frontier.size} is missing from the entries table")
                frontier.append(leaf_hash(bytes(data)))
                if audit_seq is not None:
                    audit_rows.append((index, audit_seq, bytes(data)))
                last = index
            if len(rows) < _PAGE:
                break
        if frontier.size != size or not hmac.compare_digest(frontier.root(), checkpoint.root_hash):
            raise AuditTampered("the stored log entries do not match the signed checkpoint")
        # Only entries the signed root vouches for are parsed.
        for index, audit_seq, data in audit_rows:
            entry = parse_entry(data)
            if entry.seq != audit_seq:
                raise AuditTampered(f"log entry {index} names audit event {entry.seq}, not {audit_seq}")
            covered[audit_seq] = entry.record_sha256
        # 2. and 3. Compare each event with its entry.
        seen: set[int] = set()
        last_seq = 0
        while True:
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.seq > last_seq).order_by(AuditEvent.seq).limit(_PAGE)
            ).all()
            for event in events:
                seen.add(event.seq)
                expected = covered.get(event.seq)
                if expected is None:
                    report.findings.append(Finding(event.seq, "is not covered by the evidence log"))
                elif not hmac.compare_digest(hashlib.sha256(canonical_bytes(event)).digest(), expected):
                    report.findings.append(Finding(event.seq, "was modified after it was logged"))
                last_seq = event.seq
            report.events_checked += len(events)
            if len(events) < _PAGE:
                break
    for seq in sorted(set(covered) - seen):
        report.findings.append(Finding(seq, "was deleted after it was logged"))
    return report
