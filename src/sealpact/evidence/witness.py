"""C2SP tlog-witness in both directions.

- :class:`WitnessService`: sealpact *as* a witness of other logs (``POST /witness/add-checkpoint``). It
  verifies the checkpoint with the log key configured for its origin, checks the old size against the
  latest size it cosigned for that origin, verifies the RFC 6962 consistency proof, refuses split views
  (same size, different root), persists the new size atomically with the check, and returns
  ``cosignature/v1`` signature lines (c2sp.org/tlog-cosignature).
- :class:`CosignatureCollector`: sealpact's own log asking configured witnesses (behind the
  :class:`WitnessClient` protocol; :class:`HttpWitnessClient` speaks HTTP) to cosign each new checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from sealpact.clock import Clock
from sealpact.db import transaction
from sealpact.evidence.checkpoint import (
    Checkpoint,
    CosignatureV1Signer,
    CosignatureV1Verifier,
    verify_checkpoint,
    verify_cosignatures,
)
from sealpact.evidence.errors import EvidenceError, MalformedCheckpointError, MalformedNoteError
from sealpact.evidence.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from sealpact.evidence.models import WitnessedLog
from sealpact.evidence.note import Ed25519Verifier, Note, NoteSignature, parse_note
from sealpact.evidence.service import EvidenceLog
from sealpact.storage.datakeys import DataKeyStore

log = logging.getLogger("sealpact.evidence")

WITNESS_KEY_NAME = "evidence:witness-key"
#: tlog-witness: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
MAX_REQUEST_BYTES = 64 * 1024
TLOG_SIZE_CONTENT_TYPE = "text/x.tlog.size"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class WitnessError(EvidenceError):
    code = "witness_error"


class WitnessBadRequest(WitnessError):
    code = "witness_bad_request"
    http_status = 400


class WitnessUnknownLog(WitnessError):
    code = "witness_unknown_log"
    http_status = 404


class WitnessForbidden(WitnessError):
    code = "witness_signature_invalid"
    http_status = 403


class WitnessConflict(WitnessError):
    """409: the old size is not the witness's latest, or a split view (same size, another root)."""

    code = "witness_conflict"
    http_status = 409

    def __init__(self, message: str, known_size: int) -> None:
        super().__init__(message)
        self.known_size = known_size


class WitnessInconsistent(WitnessError):
    code = "witness_consistency_proof_invalid"
    http_status = 422


class WitnessUnavailable(WitnessError):
    code = "witness_unavailable"
    http_status = 502


@dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def encode(self) -> bytes:
        """tlog-witness "add-checkpoint" request body."""
        lines = [f"old {self.old_size}", *(base64.b64encode(h).decode() for h in self.proof)]
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an add-checkpoint body strictly (400 on any deviation)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise WitnessBadRequest("request body is too large")
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise WitnessBadRequest("request has no empty line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise WitnessBadRequest("old size and proof lines must be ASCII") from None
    first = lines[0]
    if not first.startswith("old ") or not _DECIMAL.fullmatch(first[4:]):
        raise WitnessBadRequest("first line must be 'old <size>' in canonical decimal")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessBadRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            digest = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raise WitnessBadRequest("a consistency proof line is not base64") from None
        if len(digest) != HASH_SIZE:
            raise WitnessBadRequest("a consistency proof line is not a 32-byte hash")
        proof.append(digest)
    return AddCheckpointRequest(int(first[4:]), tuple(proof), note)


class WitnessService:
    """This instance as a witness for the logs whose verifier keys are configured."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        data_keys: DataKeyStore,
        clock: Clock,
        *,
        name: str,
        log_vkeys: Iterable[str],
    ) -> None:
        self._sessions = sessions
        self._data_keys = data_keys
        self._clock = clock
        self.name = name
        self._logs: dict[str, list[Ed25519Verifier]] = {}
        for vkey in log_vkeys:
            verifier = Ed25519Verifier.from_vkey(vkey)
            # tlog-checkpoint: the key name of a log SHOULD be its origin; we require it to find the key.
            self._logs.setdefault(verifier.name, []).append(verifier)
        self._signer: CosignatureV1Signer | None = None
        self._lock = threading.Lock()

    def signer(self) -> CosignatureV1Signer:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        with self._lock:
            if self._signer is None:
                self._data_keys.current(WITNESS_KEY_NAME)
                seed = self._data_keys.get(WITNESS_KEY_NAME, 1)
                key = Ed25519PrivateKey.from_private_bytes(seed)
                self._signer = CosignatureV1Signer(self.name, key, self._clock)
            return self._signer

    def vkey(self) -> str:
        """The witness's cosignature/v1 verifier key (signature type 0x04)."""
        return self.signer().verifier().vkey()

    def add_checkpoint(self, body: bytes) -> bytes:
        """Handle one tlog-witness add-checkpoint request; return the cosignature line(s)."""
        request = parse_add_checkpoint(body)
        try:
            note = parse_note(request.checkpoint)
            unverified = Checkpoint.parse(note.text)
        except (MalformedNoteError, MalformedCheckpointError) as exc:
            raise WitnessBadRequest(f"checkpoint is malformed: {exc.message}") from None
        verifiers = self._logs.get(unverified.origin)
        if not verifiers:
            raise WitnessUnknownLog(f"this witness does not know the log {unverified.origin!r}")
        try:
            verified = verify_checkpoint(note, verifiers, origin=unverified.origin)
        except EvidenceError:
            raise WitnessForbidden("no signature by a trusted key of this log verifies") from None
        checkpoint = verified.checkpoint
        if request.old_size > checkpoint.size:
            raise WitnessBadRequest("old size is larger than the checkpoint size")
        signer = self.signer()
        with transaction(self._sessions) as session:
            # Check and persist atomically (tlog-witness: the rollback race), under the row/writer lock.
            known = self._lock_origin(session, checkpoint.origin)
            known_size = known.size if known is not None else 0
            known_root = bytes(known.root_hash) if known is not None else EMPTY_ROOT
            if request.old_size != known_size:
                raise WitnessConflict(
                    f"old size {request.old_size} is not the latest cosigned size {known_size}", known_size
                )
            if request.old_size == checkpoint.size:
                if request.proof:
                    raise WitnessInconsistent("sizes are equal but the consistency proof is not empty")
                if checkpoint.root_hash != known_root:
                    log.warning("witness: split view from %s at size %d", checkpoint.origin, checkpoint.size)
                    raise WitnessConflict(
                        f"split view: a checkpoint of size {checkpoint.size} with another root was cosigned",
                        known_size,
                    )
            elif request.old_size == 0:
                if request.proof:
                    raise WitnessInconsistent("the consistency proof must be empty when the old size is 0")
            else:
                try:
                    verify_consistency(
                        request.old_size, checkpoint.size, request.proof, known_root, checkpoint.root_hash
                    )
                except EvidenceError as exc:
                    log.warning("witness: inconsistent checkpoint from %s", checkpoint.origin)
                    raise WitnessInconsistent(f"consistency proof does not verify: {exc.message}") from None
            now = self._clock.now()
            text = note.format().decode()
            session.execute(
                update(WitnessedLog)
                .where(WitnessedLog.origin == checkpoint.origin)
                .values(size=checkpoint.size, root_hash=checkpoint.root_hash, checkpoint=text, updated_at=now)
            )
            signature = NoteSignature(signer.name, signer.key_id, signer.sign(note.text.encode()))
        return signature.line().encode()

    def _lock_origin(self, session: Session, origin: str) -> WitnessedLog | None:
        """Lock this origin's row, creating an empty one first, so that two first-time requests for the
        same origin also serialise (an INSERT ... ON CONFLICT DO NOTHING, then SELECT ... FOR UPDATE; on
        SQLite the insert takes the writer lock). Returns None when nothing was cosigned yet."""
        values = {
            "origin": origin,
            "size": 0,
            "root_hash": EMPTY_ROOT,
            "checkpoint": "",
            "updated_at": self._clock.now(),
        }
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(
                pg_insert(WitnessedLog).values(**values).on_conflict_do_nothing(index_elements=["origin"])
            )
        else:
            session.execute(
                sqlite_insert(WitnessedLog).values(**values).on_conflict_do_nothing(index_elements=["origin"])
            )
        row = session.scalars(
            select(WitnessedLog).where(WitnessedLog.origin == origin).with_for_update()
        ).one()
        return row if row.checkpoint else None

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        with transaction(self._sessions) as session:
            row = session.get(WitnessedLog, origin)
            return (row.size, bytes(row.root_hash)) if row is not None and row.checkpoint else None


# --- the log side: collecting cosignatures --------------------------------------------------------------


class WitnessClient(Protocol):
    """Submits checkpoints to one witness (tlog-witness add-checkpoint)."""

    @property
    def name(self) -> str: ...

    def add_checkpoint(self, request: AddCheckpointRequest) -> bytes:
        """The witness's signature lines; :class:`WitnessConflict` (with the known size) on 409,
        another :class:`WitnessError` on any other refusal or outage."""
        ...


class HttpWitnessClient:
    """``POST <prefix>/add-checkpoint`` over HTTP(S)."""

    def __init__(self, name: str, prefix: str, *, timeout: float = 10.0, client: httpx.Client | None = None):
        self._name = name
        self._url = prefix.rstrip("/") + "/add-checkpoint"
        self._client = client or httpx.Client(timeout=timeout)

    @property
    def name(self) -> str:
        return self._name

    def add_checkpoint(self, request: AddCheckpointRequest) -> bytes:
        try:
            response = self._client.post(self._url, content=request.encode())
        except httpx.HTTPError as exc:
            raise WitnessUnavailable(f"witness {self._name} is unreachable ({type(exc).__name__})") from None
        if response.status_code == 200:
            return response.content
        if response.status_code == 409:
            text = response.text.strip()
            if response.headers.get("content-type", "").startswith(
                TLOG_SIZE_CONTENT_TYPE
            ) and _DECIMAL.fullmatch(text):
                raise WitnessConflict(f"witness {self._name} knows size {text}", int(text))
            raise WitnessConflict(f"witness {self._name} refused the checkpoint (conflict)", -1)
        errors: dict[int, type[WitnessError]] = {
            400: WitnessBadRequest,
            403: WitnessForbidden,
            404: WitnessUnknownLog,
            422: WitnessInconsistent,
        }
        raise errors.get(response.status_code, WitnessUnavailable)(
            f"witness {self._name} answered HTTP {response.status_code}"
        )


@dataclass
class ConfiguredWitness:
    verifier: CosignatureV1Verifier
    client: WitnessClient


def parse_witness_setting(value: str, timeout: float) -> ConfiguredWitness:
    """``"<cosignature vkey> <submission prefix URL>"`` from ``SEALPACT_EVIDENCE_WITNESSES``."""
    vkey, _, url = value.strip().partition(" ")
    verifier = CosignatureV1Verifier.from_vkey(vkey)
    if not url.startswith(("http://", "https://")):
        raise WitnessBadRequest("a witness setting is '<vkey> <http(s) URL prefix>'")
    return ConfiguredWitness(verifier, HttpWitnessClient(verifier.name, url.strip(), timeout=timeout))


class CosignatureCollector:
    """After each checkpoint, ask every configured witness to cosign it and publish what came back."""

    def __init__(self, evidence: EvidenceLog, witnesses: Sequence[ConfiguredWitness]) -> None:
        self._log = evidence
        self._witnesses = list(witnesses)
        self._known: dict[str, int] = {}  # the size each witness last cosigned (learned from 409s)
        self._lock = threading.Lock()

    def __call__(self, size: int) -> None:
        self.collect(size)

    def collect(self, size: int) -> list[str]:
        """Returns the names of the witnesses that cosigned the checkpoint of ``size``."""
        with self._lock:
            note = parse_note(self._log.checkpoint_at(size))
            cosigned: list[NoteSignature] = []
            names = []
            for witness in self._witnesses:
                try:
                    lines = self._submit(witness, note, size)
                except WitnessError as exc:
                    log.warning(
                        "evidence: witness %s did not cosign size %d: %s", witness.client.name, size, exc.code
                    )
                    continue
                signatures = self._check(witness, note, lines)
                cosigned.extend(signatures)
                names.append(witness.client.name)
                self._known[witness.client.name] = size
            if cosigned:
                self._log.add_cosignatures(size, note.with_signatures(cosigned))
            return names

    def _submit(self, witness: ConfiguredWitness, note: Note, size: int) -> bytes:
        body = note.format()
        old = self._known.get(witness.client.name, 0)
        for _ in range(2):
            proof = tuple(self._log.consistency_proof(old, size)) if 0 < old < size else ()
            try:
                return witness.client.add_checkpoint(AddCheckpointRequest(old, proof, body))
            except WitnessConflict as exc:
                if exc.known_size < 0 or exc.known_size > size or exc.known_size == old:
                    raise
                old = exc.known_size  # the witness told us where it is: retry from there
        raise WitnessConflict(f"witness {witness.client.name} keeps moving", old)

    def _check(self, witness: ConfiguredWitness, note: Note, lines: bytes) -> list[NoteSignature]:
        """tlog-witness: concatenate the response to the checkpoint and verify with the witness key."""
        try:
            combined = parse_note(note.format() + lines)
        except MalformedNoteError:
            raise WitnessBadRequest(f"witness {witness.client.name} sent malformed signature lines") from None
        checkpoint = verify_checkpoint(combined, [self._log.verifier()], origin=self._log.origin)
        verify_cosignatures(checkpoint, [witness.verifier], quorum=1)
        slot = (witness.verifier.name, witness.verifier.key_id)
        return [s for s in combined.signatures if (s.name, s.key_id) == slot][:1]
