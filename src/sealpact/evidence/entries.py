"""Log entries: canonical, versioned, hash-only records (pure, no I/O).

An entry commits to a piece of evidence without revealing it: the log is public (``/log/tile/entries``)
and must hold no personal data. Each entry is UTF-8 JSON with sorted keys and no whitespace:

``record`` entries (the evidence-record API, e.g. ``contract.signed``)::

    {"kind":"record","record":<hex SHA-256 of the full record>,"subject":<hex HMAC of the contract id>,
     "time":<RFC 3339 UTC>,"type":<event type>,"v":1}

``audit`` entries (coverage of ``audit_events``, :mod:`sealpact.evidence.audit_coverage`)::

    {"kind":"audit","record":<hex SHA-256 of audit.canonical_bytes(event)>,"seq":<event seq>,
     "time":<RFC 3339 UTC>,"v":1}

The leaf hash is RFC 9162 §2.1.1 ``SHA-256(0x00 || entry)``. A format change bumps ``v``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sealpact.evidence.errors import EvidenceError
from sealpact.evidence.tiles import MAX_ENTRY_SIZE

ENTRY_VERSION = 1
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class MalformedEntryError(EvidenceError):
    """An entry or record is not in the canonical form."""

    code = "evidence_entry_malformed"
    http_status = 422


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise MalformedEntryError("entry times must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_event_type(event_type: str) -> str:
    if len(event_type) > 64 or not _EVENT_TYPE.fullmatch(event_type):
        raise MalformedEntryError("event types are dotted lowercase names, e.g. contract.signed")
    return event_type


@dataclass(frozen=True, slots=True)
class Entry:
    """A parsed entry. ``subject`` is set for record entries, ``seq`` for audit entries."""

    kind: str
    record_sha256: bytes
    time: str
    event_type: str | None = None
    subject: str | None = None
    seq: int | None = None

    def encode(self) -> bytes:
        body: dict[str, Any] = {
            "v": ENTRY_VERSION,
            "kind": self.kind,
            "record": self.record_sha256.hex(),
            "time": self.time,
        }
        if self.kind == "record":
            body["type"] = self.event_type
            body["subject"] = self.subject
        else:
            body["seq"] = self.seq
        data = canonical_json(body)
        if len(data) > MAX_ENTRY_SIZE:  # pragma: no cover - the fields are bounded
            raise MalformedEntryError("entry is too large")
        return data


def record_entry(event_type: str, subject_hash: str, record_sha256: bytes, time: datetime) -> Entry:
    check_event_type(event_type)
    if not _HEX64.fullmatch(subject_hash) or len(record_sha256) != 32:
        raise MalformedEntryError("subject must be a hex HMAC-SHA256 and the record hash 32 bytes")
    return Entry("record", record_sha256, format_time(time), event_type=event_type, subject=subject_hash)


def audit_entry(seq: int, record_sha256: bytes, time: datetime) -> Entry:
    if seq < 1 or len(record_sha256) != 32:
        raise MalformedEntryError("audit entries need a positive seq and a 32-byte hash")
    return Entry("audit", record_sha256, format_time(time), seq=seq)


def parse_entry(data: bytes) -> Entry:
    """Parse an entry strictly: it must re-encode to exactly the same bytes."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MalformedEntryError("entry is not UTF-8 JSON") from None
    if not isinstance(body, dict) or body.get("v") != ENTRY_VERSION:
        raise MalformedEntryError("entry is not a version 1 object")
    try:
        record = bytes.fromhex(body["record"]) if _HEX64.fullmatch(str(body["record"])) else b""
        if body["kind"] == "record":
            entry = Entry("record", record, str(body["time"]), str(body["type"]), str(body["subject"]))
        elif body["kind"] == "audit" and isinstance(body["seq"], int):
            entry = Entry("audit", record, str(body["time"]), seq=body["seq"])
        else:
            raise MalformedEntryError("unknown entry kind")
    except KeyError as exc:
        raise MalformedEntryError(f"entry lacks {exc.args[0]!r}") from None
    if len(entry.record_sha256) != 32 or entry.encode() != data:
        raise MalformedEntryError("entry is not in canonical form")
    return entry
