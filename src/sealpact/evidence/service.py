"""The evidence transparency log as a service: staging, batched sequencing, stored tiles, signed checkpoints.

Flow (the evidence issue, parts 1-3):

1. A domain service calls :meth:`EvidenceLog.record` (or :meth:`EvidenceLog.append`) with *its own*
   session: the hash-only entry (:mod:`sealpact.evidence.entries`) and the encrypted full record are
   staged with ``leaf_index`` NULL and commit atomically with the state change they record.
2. The sequencer (:meth:`EvidenceLog.integrate_batch`, run by :class:`sealpact.evidence.sequencer.Sequencer`
   or ``sealpact evidence sequence``) takes the log lock (PostgreSQL: ``SELECT ... FOR UPDATE`` on the state
   row; SQLite: the writer lock, taken by the first statement), picks up uncovered ``audit_events``, assigns
   the next indexes to up to ``batch_size`` pending entries, extends the RFC 9162 tree, stores the new
   C2SP tlog-tiles (hash tiles and entry bundles), checks the new tree is consistent with the previous
   checkpoint (RFC 9162 §2.1.4) and signs a C2SP tlog-checkpoint with the log's Ed25519 key, all in one
   transaction.
3. After the commit, configured witnesses are asked for cosignatures (C2SP tlog-witness) and waiters
   (:meth:`EvidenceLog.wait_for_inclusion`) wake up.

The log key is a 32-byte Ed25519 seed held as a data key (``runtime.data_keys``, wrapped by the KEK of
``runtime.keys``, re-wrapped on KEK rotation): never on disk in plaintext, never logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, and_, delete, event, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from sealpact.audit.models import AuditEvent
from sealpact.audit.service import canonical_bytes
from sealpact.clock import Clock
from sealpact.db import new_id, on_commit, transaction
from sealpact.errors import NotFound
from sealpact.evidence.checkpoint import Checkpoint, verify_checkpoint
from sealpact.evidence.entries import Entry, audit_entry, canonical_json, check_event_type, record_entry
from sealpact.evidence.errors import EvidenceError, TreeRangeError
from sealpact.evidence.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
)
from sealpact.evidence.models import (
    ENTRIES_LEVEL,
    EvidenceRecordRow,
    LogEntry,
    LogState,
    StoredCheckpoint,
    StoredTile,
)
from sealpact.evidence.note import Ed25519Signer, Ed25519Verifier, Note, parse_note
from sealpact.evidence.proofs import TlogProof
from sealpact.evidence.storage import (
    DbTileReader,
    NodeCache,
    OverlayHashReader,
    OverlayTileReader,
    TileCache,
    TileNodeReader,
    read_stored,
)
from sealpact.evidence.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    EntryBundleRef,
    Tile,
    TileHashReader,
    decode_entry_bundle,
    encode_entry_bundle,
    new_tiles,
    tile_contents,
)
from sealpact.storage.datakeys import DataKeyStore
from sealpact.storage.fields import FieldCipher

log = logging.getLogger("sealpact.evidence")

LOG_KEY_NAME = "evidence:log-key"
RECORD_PURPOSE = "evidence.record"
SUBJECT_PURPOSE = "evidence.subject"
#: Audit events are picked up by an anti-join over this many sequence numbers below the highest one
#: covered, so an event whose transaction commits late (PostgreSQL hands out identities before commit)
#: is still covered; `sealpact evidence audit` reports any event left uncovered.
AUDIT_WINDOW = 10_000


_ENTRIES = cast(Table, LogEntry.__table__)
_STAGED = "sealpact.evidence.staged"
_ASSIGN_QMARK = "UPDATE evidence_entries SET leaf_index = ? WHERE staged_seq = ?"
_ASSIGN_UNNEST = (
    "UPDATE evidence_entries SET leaf_index = v.idx FROM "
    "(SELECT unnest(%s::bigint[]) AS seq, unnest(%s::bigint[]) AS idx) AS v "
    "WHERE evidence_entries.staged_seq = v.seq"
)


def _noop() -> None:
    pass


@event.listens_for(Session, "before_commit")
def _write_staged(session: Session) -> None:
    """Insert the entries staged in this transaction, all in one statement, just before it commits."""
    rows = session.info.pop(_STAGED, None)
    if rows:
        session.execute(insert(_ENTRIES), rows)


@event.listens_for(Session, "after_soft_rollback")
def _drop_staged(session: Session, _previous: Any) -> None:
    session.info.pop(_STAGED, None)


class Stoppable(Protocol):
    def stop(self, timeout: float = 10.0) -> None: ...


class LogNotInitialised(EvidenceError):
    code = "evidence_log_not_initialised"
    http_status = 503


class LogKeyMismatch(EvidenceError):
    """The signing key available is not the key this log was started with."""

    code = "evidence_log_key_mismatch"
    http_status = 500


class HistoryRewriteError(EvidenceError):
    """The log refused to produce or accept a tree that does not extend its signed history."""

    code = "evidence_history_rewrite"
    http_status = 409


class InclusionTimeout(EvidenceError):
    code = "evidence_inclusion_timeout"
    http_status = 503


class RecordIntegrityError(EvidenceError):
    """A stored full record does not match the hash committed to in the log."""

    code = "evidence_record_tampered"
    http_status = 500


def origin_for(public_url: str) -> str:
    """The log origin from ``SEALPACT_PUBLIC_URL``: ``<host[:port]><path>/log`` (tlog-checkpoint: a
    schema-less URL is RECOMMENDED as origin)."""
    parts = urlsplit(public_url)
    host = parts.netloc or parts.path
    return f"{host}{parts.path.rstrip('/') if parts.netloc else ''}/log"


@dataclass(frozen=True)
class EvidenceRecord:
    """A full evidence record (the contracts/signing domains build these).

    ``body`` is any JSON object: names, IP addresses, document hashes, certificate serials. It is stored
    encrypted; the log only ever sees ``SHA-256(canonical JSON)`` and a keyed hash of ``subject_id``.
    """

    event_type: str
    subject_id: str
    body: Mapping[str, Any]
    occurred_at: datetime

    def canonical(self) -> bytes:
        return canonical_json(
            {
                "type": self.event_type,
                "subject": self.subject_id,
                "time": self.occurred_at.isoformat(),
                "body": dict(self.body),
            }
        )


@dataclass(frozen=True)
class StagedEntry:
    entry_id: str
    record_id: str | None
    leaf_hash: bytes


@dataclass(frozen=True)
class Inclusion:
    """An entry's place in a signed tree: what :meth:`EvidenceLog.wait_for_inclusion` returns."""

    entry_id: str
    leaf_index: int
    tree_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes  # the signed note
    entry: bytes

    def tlog_proof(self) -> bytes:
        """The C2SP ``c2sp.org/tlog-proof@v1`` document (offline-verifiable)."""
        return TlogProof(self.leaf_index, self.proof, self.checkpoint).format()


@dataclass(frozen=True)
class BatchResult:
    old_size: int
    new_size: int
    checkpoint: bytes | None  # None when nothing was pending


@dataclass(frozen=True)
class OpenedRecord:
    record_id: str
    entry_id: str
    event_type: str
    occurred_at: datetime
    body: dict[str, Any]


class EvidenceLog:
    """One deployment's evidence log. Built once per process (``runtime.evidence``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        data_keys: DataKeyStore,
        fields: FieldCipher,
        clock: Clock,
        *,
        origin: str,
        batch_size: int = 256,
        after_checkpoint: Sequence[Callable[[int], None]] = (),
    ) -> None:
        self._sessions = sessions
        self._data_keys = data_keys
        self._fields = fields
        self._clock = clock
        self.origin = origin
        self.batch_size = batch_size
        self.tiles = TileCache()
        self.nodes = NodeCache(1024)
        self._signer: Ed25519Signer | None = None
        self._signer_lock = threading.Lock()
        self._integrated = threading.Condition()
        self._after_checkpoint = list(after_checkpoint)
        self._kick: Callable[[], None] | None = None
        self.sequencer: Stoppable | None = None
        self._known_size = 0  # the largest signed tree size seen by this process

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self._sessions

    @property
    def clock(self) -> Clock:
        return self._clock

    def add_hook(self, hook: Callable[[int], None]) -> None:
        """Run ``hook(size)`` after each committed checkpoint (witness cosigning, TSA anchoring)."""
        self._after_checkpoint.append(hook)

    def close(self) -> None:
        """Stop the in-process sequencer, if any (``Runtime.close``)."""
        if self.sequencer is not None:
            self.sequencer.stop()

    # -- keys and identity --------------------------------------------------------------------------

    def _load_signer(self) -> Ed25519Signer:
        with self._signer_lock:
            if self._signer is None:
                self._data_keys.current(LOG_KEY_NAME)
                seed = self._data_keys.get(LOG_KEY_NAME, 1)  # version 1 for life: the key is the log
                self._signer = Ed25519Signer.from_seed(self.origin, seed)
            return self._signer

    def verifier(self) -> Ed25519Verifier:
        return self._load_signer().verifier()

    def vkey(self) -> str:
        """The C2SP signed-note verifier key: ``<origin>+<key id>+<base64(0x01 || public key)>``."""
        return self.verifier().vkey()

    def initialise(self) -> bool:
        """Create the log key and sign the empty checkpoint (idempotent; ``sealpact init``)."""
        signer = self._load_signer()
        with transaction(self._sessions) as session:
            state = session.get(LogState, 1)
            if state is not None:
                self._check_state(state)
                return False
            now = self._clock.now()
            note = Checkpoint(self.origin, 0, EMPTY_ROOT).sign([signer]).format().decode()
            session.add(
                LogState(
                    id=1,
                    origin=self.origin,
                    key_name=signer.name,
                    public_key=signer.verifier().public_key,
                    size=0,
                    root_hash=EMPTY_ROOT,
                    checkpoint=note,
                    audit_seq=0,
                    updated_at=now,
                )
            )
            session.add(StoredCheckpoint(size=0, root_hash=EMPTY_ROOT, note=note, signed_at=now))
        return True

    def _check_state(self, state: LogState) -> None:
        signer = self._load_signer()
        if state.origin != self.origin:
            raise LogKeyMismatch(
                f"this log's origin is {state.origin!r} but SEALPACT_PUBLIC_URL gives {self.origin!r}"
            )
        if bytes(state.public_key) != signer.verifier().public_key:
            raise LogKeyMismatch("the log signing key does not match the key this log was created with")

    def _state(self, session: Session, *, lock: bool = False) -> LogState:
        if lock:
            if session.get_bind().dialect.name == "sqlite":
                # The first write takes SQLite's single writer lock for the whole transaction.
                session.execute(update(LogState).where(LogState.id == 1).values(audit_seq=LogState.audit_seq))
            query = select(LogState).where(LogState.id == 1).with_for_update()
        else:
            query = select(LogState).where(LogState.id == 1)
        state = session.scalars(query).first()
        if state is None:
            raise LogNotInitialised("the evidence log is not initialised; run `sealpact init`")
        return state

    # -- staging ------------------------------------------------------------------------------------

    def subject_hash(self, subject_id: str, *, session: Session | None = None) -> str:
        """The keyed hash (HMAC-SHA256) of a contract id that entries carry instead of the id."""
        return self._fields.lookup_hash(subject_id, purpose=SUBJECT_PURPOSE, session=session)

    def append(self, session: Session, entry: Entry, *, audit_seq: int | None = None) -> StagedEntry:
        """Stage ``entry`` in the caller's transaction; the sequencer gives it an index after commit."""
        return self.append_many(session, [entry], audit_seqs=[audit_seq])[0]

    def append_many(
        self, session: Session, entries: Sequence[Entry], *, audit_seqs: Sequence[int | None] | None = None
    ) -> list[StagedEntry]:
        """Stage several entries in one statement (Core executemany: no ORM objects on the hot path)."""
        now = self._clock.now()
        seqs = audit_seqs if audit_seqs is not None else [None] * len(entries)
        rows = []
        for entry, audit_seq in zip(entries, seqs, strict=True):
            data = entry.encode()
            rows.append(
                {
                    "id": new_id(),
                    "leaf_index": None,
                    "entry": data,
                    "leaf_hash": leaf_hash(data),
                    "audit_seq": audit_seq,
                    "staged_at": now,
                }
            )
        if rows:
            # Written by one executemany when the caller's transaction commits (see _write_staged).
            on_commit(session, _noop)  # begins the transaction now, so a rollback drops the rows
            session.info.setdefault(_STAGED, []).extend(rows)
            if self._kick is not None:
                kick = self._kick
                for _ in rows:
                    on_commit(session, kick)
        return [StagedEntry(str(row["id"]), None, bytes(cast(bytes, row["leaf_hash"]))) for row in rows]

    def record(self, session: Session, record: EvidenceRecord) -> StagedEntry:
        """Store ``record`` encrypted and stage its hash-only entry, in the caller's transaction.

        This is the evidence-record API the contracts and signing services call with the session that
        changes the contract's state, so the evidence and the change commit (or roll back) together.
        """
        check_event_type(record.event_type)
        canonical = record.canonical()
        digest = hashlib.sha256(canonical).digest()
        subject = self.subject_hash(record.subject_id, session=session)
        staged = self.append(session, record_entry(record.event_type, subject, digest, record.occurred_at))
        record_id = new_id()
        session.add(
            EvidenceRecordRow(
                id=record_id,
                entry_id=staged.entry_id,
                event_type=record.event_type,
                subject_hash=subject,
                record_sha256=digest,
                record_enc=self._fields.encrypt(
                    canonical.decode("utf-8"), purpose=RECORD_PURPOSE, session=session
                ),
                occurred_at=record.occurred_at,
            )
        )
        return StagedEntry(staged.entry_id, record_id, staged.leaf_hash)

    def open_record(self, record_id: str) -> OpenedRecord:
        """Decrypt a full record and check it against the hash its log entry commits to."""
        import json

        with transaction(self._sessions) as session:
            row = session.get(EvidenceRecordRow, record_id)
            if row is None:
                raise NotFound("no such evidence record")
            entry = session.scalars(select(LogEntry.entry).where(LogEntry.id == row.entry_id)).first()
            plain = self._fields.decrypt(row.record_enc, purpose=RECORD_PURPOSE, session=session)
        digest = hashlib.sha256(plain.encode("utf-8")).digest()
        committed = json.loads(bytes(entry or b"{}")).get("record", "")
        if digest.hex() != committed or digest != bytes(row.record_sha256):
            raise RecordIntegrityError(f"evidence record {record_id} does not match its log entry")
        body = json.loads(plain)
        return OpenedRecord(record_id, row.entry_id, row.event_type, row.occurred_at, body["body"])

    def records_for(self, subject_id: str) -> list[tuple[str, str, str]]:
        """(record id, entry id, event type) of every record about ``subject_id``, oldest first."""
        with transaction(self._sessions) as session:
            subject = self.subject_hash(subject_id, session=session)
            rows = session.execute(
                select(EvidenceRecordRow.id, EvidenceRecordRow.entry_id, EvidenceRecordRow.event_type)
                .where(EvidenceRecordRow.subject_hash == subject)
                .order_by(EvidenceRecordRow.occurred_at)
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    # -- sequencing -------------------------------------------------------------------------------

    def set_kick(self, kick: Callable[[], None] | None) -> None:
        """Called after every commit that staged an entry (the in-process sequencer wakes up)."""
        self._kick = kick

    def integrate_batch(self, max_entries: int | None = None) -> BatchResult:
        """Sequence up to ``max_entries`` pending entries (and uncovered audit events) into the tree."""
        limit = max_entries or self.batch_size
        signer = self._load_signer()
        if not self._has_work():
            # Idle: no write transaction (an idle sequencer polling every second must not take the lock).
            return BatchResult(self._known_size, self._known_size, None)
        with transaction(self._sessions) as session:
            state = self._state(session, lock=True)
            self._check_state(state)
            old_size, old_root = state.size, bytes(state.root_hash)
            covered = self._cover_audit_events(session, state, limit)
            pending = session.execute(
                select(LogEntry.staged_seq, LogEntry.entry, LogEntry.leaf_hash)
                .where(LogEntry.leaf_index.is_(None))
                .order_by(LogEntry.staged_seq)
                .limit(limit)
            ).all()
            if not pending:
                return BatchResult(old_size, old_size, None)
            leaves: list[bytes] = []
            for seq, data, stored_leaf in pending:
                leaf = leaf_hash(bytes(data))
                if leaf != bytes(stored_leaf):
                    raise EvidenceError(f"staged entry {seq}: stored leaf hash does not match its entry")
                leaves.append(leaf)
            new_size = old_size + len(leaves)
            assignments = [{"seq": row[0], "index": old_size + i} for i, row in enumerate(pending)]
            checkpoint, written = self._extend(
                session, old_size, old_root, leaves, [bytes(r[1]) for r in pending]
            )
            # Straight to the driver's executemany: this is the hot loop of the sequencer.
            if session.get_bind().dialect.name == "postgresql":
                # One statement (one round trip) instead of one UPDATE per row.
                session.connection().exec_driver_sql(
                    _ASSIGN_UNNEST, ([a["seq"] for a in assignments], [a["index"] for a in assignments])
                )
            else:
                session.connection().exec_driver_sql(
                    _ASSIGN_QMARK, [(a["index"], a["seq"]) for a in assignments]
                )
            note = checkpoint.sign([signer]).format().decode()
            now = self._clock.now()
            session.add(
                StoredCheckpoint(size=new_size, root_hash=checkpoint.root_hash, note=note, signed_at=now)
            )
            state.size, state.root_hash, state.checkpoint, state.updated_at = (
                new_size,
                checkpoint.root_hash,
                note,
                now,
            )
            if covered:
                state.audit_seq = max(state.audit_seq, covered)
        self._known_size = max(self._known_size, new_size)
        # Committed now: the bodies just written are immutable, so the next batch reads them from memory.
        for key, body in written.items():
            self.tiles.put(key, body)
        with self._integrated:
            self._integrated.notify_all()
        for hook in self._after_checkpoint:
            try:
                hook(new_size)
            except Exception:  # a witness or TSA outage must not stop the log
                log.exception("evidence: after-checkpoint hook failed at size %d", new_size)
        return BatchResult(old_size, new_size, note.encode())

    def run_until_idle(self, max_batches: int | None = None) -> int:
        """Integrate batches until nothing is pending; return the new tree size."""
        batches = 0
        while True:
            result = self.integrate_batch()
            batches += 1
            if result.checkpoint is None or (max_batches is not None and batches >= max_batches):
                return result.new_size

    def _has_work(self) -> bool:
        """Anything pending, or any audit event not yet covered? A read-only look before locking."""
        with transaction(self._sessions) as session:
            state = self._state(session)
            self._known_size = max(self._known_size, state.size)
            if session.execute(
                select(LogEntry.staged_seq).where(LogEntry.leaf_index.is_(None)).limit(1)
            ).first():
                return True
            return self._uncovered_events(session, state, 1) != []

    def _uncovered_events(self, session: Session, state: LogState, limit: int) -> list[AuditEvent]:
        floor = max(0, state.audit_seq - AUDIT_WINDOW)
        covered = exists().where(LogEntry.audit_seq == AuditEvent.seq)
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq > floor, ~covered)
                .order_by(AuditEvent.seq)
                .limit(limit)
            ).all()
        )

    def _cover_audit_events(self, session: Session, state: LogState, limit: int) -> int:
        """Stage entries for audit events not yet in the log (evidence issue part 5)."""
        events = self._uncovered_events(session, state, limit)
        self.append_many(
            session,
            [audit_entry(e.seq, hashlib.sha256(canonical_bytes(e)).digest(), e.occurred_at) for e in events],
            audit_seqs=[e.seq for e in events],
        )
        _write_staged(session)  # the pending query below must see them
        return events[-1].seq if events else 0

    def _extend(
        self, session: Session, old_size: int, old_root: bytes, leaves: list[bytes], entries: list[bytes]
    ) -> tuple[Checkpoint, dict[tuple[int, int, int], bytes]]:
        """Store the tiles and entry bundles of the grown tree; return its (unsigned) checkpoint and them."""
        stored = DbTileReader(session, self.tiles)
        old_reader = TileNodeReader(old_size, stored, self.nodes)  # committed tiles only: safe to memoise
        frontier = Frontier.from_reader(old_size, old_reader) if old_size else Frontier()
        if frontier.root() != old_root:
            raise HistoryRewriteError("the stored tiles do not match the last signed checkpoint")
        fresh_nodes = {
            address: digest for address, digest in frontier.extend(leaves) if address.level % TILE_HEIGHT == 0
        }
        new_size = frontier.size
        tiles = new_tiles(old_size, new_size)
        bodies = dict(
            zip(tiles, tile_contents(tiles, OverlayHashReader(fresh_nodes, old_reader)), strict=True)
        )
        # RFC 9162 §2.1.4: the new tree must extend the signed one; prove it from the stored tiles.
        new_reader = TileHashReader(new_size, OverlayTileReader(bodies, stored))
        new_root = frontier.root()
        if old_size:
            proof = consistency_proof(old_size, new_size, new_reader)
            try:
                verify_consistency(old_size, new_size, proof, old_root, new_root)
            except EvidenceError as exc:
                raise HistoryRewriteError(f"refusing a checkpoint inconsistent with size {old_size}") from exc
        bundles = self._bundles(session, old_size, entries)
        written = {**{(t.level, t.index, t.width): b for t, b in bodies.items()}, **bundles}
        self._store(session, written)
        return Checkpoint(self.origin, new_size, new_root), written

    def _bundles(
        self, session: Session, old_size: int, entries: list[bytes]
    ) -> dict[tuple[int, int, int], bytes]:
        """tlog-tiles "Log entries": the entry bundles touched by appending ``entries`` at ``old_size``."""
        out: dict[tuple[int, int, int], bytes] = {}
        index, offset = divmod(old_size, TILE_WIDTH)
        current: list[bytes] = []
        if offset:
            previous = self.tiles.get((ENTRIES_LEVEL, index, offset)) or read_stored(
                session, ENTRIES_LEVEL, index, offset
            )
            if previous is None:
                raise HistoryRewriteError(f"entry bundle {index} is missing")
            current = decode_entry_bundle(previous, offset)
        for data in entries:
            current.append(data)
            if len(current) == TILE_WIDTH:
                out[(ENTRIES_LEVEL, index, TILE_WIDTH)] = encode_entry_bundle(current)
                index, current = index + 1, []
        if current:
            out[(ENTRIES_LEVEL, index, len(current))] = encode_entry_bundle(current)
        return out

    def _store(self, session: Session, bodies: dict[tuple[int, int, int], bytes]) -> None:
        tiles = cast(Table, StoredTile.__table__)
        session.execute(
            insert(tiles),
            [{"level": lv, "tile_index": ix, "width": w, "data": b} for (lv, ix, w), b in bodies.items()],
        )
        # A wider version of a partial tile replaces the narrower ones (their bytes are its prefix).
        session.execute(
            delete(tiles).where(
                or_(
                    *(
                        and_(tiles.c.level == lv, tiles.c.tile_index == ix, tiles.c.width < w)
                        for lv, ix, w in bodies
                    )
                )
            )
        )

    # -- reading ----------------------------------------------------------------------------------

    def checkpoint(self) -> bytes:
        """The latest signed checkpoint note (with any witness cosignatures)."""
        with transaction(self._sessions) as session:
            return self._state(session).checkpoint.encode()

    def size(self) -> int:
        with transaction(self._sessions) as session:
            return self._state(session).size

    def checkpoint_at(self, size: int) -> bytes:
        with transaction(self._sessions) as session:
            note = session.scalars(select(StoredCheckpoint.note).where(StoredCheckpoint.size == size)).first()
        if note is None:
            raise NotFound(f"the log signed no checkpoint of size {size}")
        return note.encode()

    def read_tile(self, tile: Tile) -> bytes:
        """A hash tile as served at ``/log/tile/<L>/<N>[.p/<W>]`` (404 when the tree is not that big)."""
        return self._read(tile.level, tile.index, tile.width, tile.path())

    def read_entry_bundle(self, bundle: EntryBundleRef) -> bytes:
        return self._read(ENTRIES_LEVEL, bundle.index, bundle.width, bundle.path())

    def _read(self, level: int, index: int, width: int, path: str) -> bytes:
        key = (level, index, width)
        cached = self.tiles.get(key)
        if cached is not None:
            return cached
        with transaction(self._sessions) as session:
            body = read_stored(session, level, index, width)
        if body is None:
            raise NotFound(f"{path} does not exist (yet)")
        self.tiles.put(key, body)
        return body

    def _require_size(self, size: int) -> None:
        """Proofs are only served for sizes the log has signed. Sizes only grow, so a size at most the
        largest one seen in this process needs no database read."""
        if size <= self._known_size:
            return
        with transaction(self._sessions) as session:
            current = self._state(session).size
        self._known_size = max(self._known_size, current)
        if size > current:
            raise TreeRangeError(f"tree size {size} is larger than the log's current size {current}")

    @contextmanager
    def _hash_reader(self, size: int) -> Iterator[TileNodeReader]:
        reader = DbTileReader(self._sessions, self.tiles)
        try:
            yield TileNodeReader(size, reader, self.nodes)
        finally:
            reader.close()

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 §2.1.3.1 proof for leaf ``index`` in the signed tree of ``size`` leaves."""
        self._require_size(size)
        with self._hash_reader(size) as reader:
            return inclusion_proof(index, size, reader)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 §2.1.4.1 proof that the tree of ``size2`` leaves extends the one of ``size1``."""
        if size1 > size2:
            raise TreeRangeError(f"no consistency proof from size {size1} down to {size2}")
        self._require_size(size2)
        if size1 == 0:
            return []
        with self._hash_reader(size2) as reader:
            return consistency_proof(size1, size2, reader)

    def entry_status(self, entry_id: str) -> tuple[int | None, int]:
        """(leaf index or None while pending, current tree size)."""
        with transaction(self._sessions) as session:
            row = session.execute(select(LogEntry.leaf_index).where(LogEntry.id == entry_id)).first()
            if row is None:
                raise NotFound("no such log entry")
            state = session.get(LogState, 1)  # None until the log is initialised: nothing included yet
            return row[0], state.size if state is not None else 0

    def inclusion(self, entry_id: str) -> Inclusion:
        """The entry's inclusion proof in the latest checkpoint; NotFound-like error while pending."""
        with transaction(self._sessions) as session:
            row = session.execute(
                select(LogEntry.leaf_index, LogEntry.entry).where(LogEntry.id == entry_id)
            ).first()
            if row is None:
                raise NotFound("no such log entry")
            index, data = row
            state = self._state(session)
            if index is None or index >= state.size:
                raise InclusionTimeout("the entry is not integrated yet")
            proof = inclusion_proof(
                index, state.size, TileNodeReader(state.size, DbTileReader(session, self.tiles), self.nodes)
            )
            return Inclusion(
                entry_id, index, state.size, tuple(proof), state.checkpoint.encode(), bytes(data)
            )

    def wait_for_inclusion(self, entry_id: str, timeout: float = 5.0) -> Inclusion:
        """Block until ``entry_id`` is in a signed checkpoint; raise :class:`InclusionTimeout` after
        ``timeout`` seconds. Wakes on in-process batches and polls for other processes' sequencers."""
        deadline = time.monotonic() + timeout
        if self._kick is not None:
            self._kick()
        while True:
            index, size = self.entry_status(entry_id)
            if index is not None and index < size:
                return self.inclusion(entry_id)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InclusionTimeout(f"entry {entry_id} was not integrated within {timeout} s")
            with self._integrated:
                self._integrated.wait(min(remaining, 0.05))

    # -- checkpoints from elsewhere (cosignatures) -------------------------------------------------

    def add_cosignatures(self, size: int, cosigned: Note) -> bool:
        """Make ``cosigned`` (same text, more signatures) the latest note, if its size is still current."""
        with transaction(self._sessions) as session:
            state = self._state(session, lock=True)
            if state.size != size:
                return False
            current = parse_note(state.checkpoint)
            if cosigned.text != current.text:
                raise HistoryRewriteError("cosigned checkpoint text differs from the log's checkpoint")
            verify_checkpoint(cosigned, [self.verifier()], origin=self.origin)
            state.checkpoint = cosigned.format().decode()
        return True

    def stored_checkpoints(self) -> list[tuple[int, bytes]]:
        with transaction(self._sessions) as session:
            rows = session.execute(
                select(StoredCheckpoint.size, StoredCheckpoint.root_hash).order_by(StoredCheckpoint.size)
            ).all()
        return [(r[0], bytes(r[1])) for r in rows]

    def pending_count(self) -> int:
        with transaction(self._sessions) as session:
            return int(session.scalar(select(func.count()).where(LogEntry.leaf_index.is_(None))) or 0)

    def root_hash_b64(self) -> str:
        with transaction(self._sessions) as session:
            return base64.b64encode(bytes(self._state(session).root_hash)).decode()
