"""C2SP tlog-proof: offline-verifiable proof that an entry is in a log (``c2sp.org/tlog-proof@v1``).

tlog-proof "Format", line by line:

1. ``c2sp.org/tlog-proof@v1``;
2. optionally ``extra <base64>``: opaque, unauthenticated application data;
3. ``index <N>``: zero-based leaf index, ASCII decimal without leading zeroes;
4. zero or more base64 SHA-256 hashes: the RFC 6962 §2.1.1 inclusion proof, leaf's sibling first;
5. an empty line, then the signed checkpoint verbatim (tlog-checkpoint, possibly with cosignatures).

Verification checks the checkpoint with the log key (and, if asked, a quorum of witness cosignatures),
then the inclusion of the entry's leaf hash at ``index`` under the checkpoint's root and size.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sealpact.evidence.checkpoint import (
    Checkpoint,
    Cosignature,
    CosignatureV1Verifier,
    VerifiedCheckpoint,
    verify_checkpoint,
    verify_cosignatures,
)
from sealpact.evidence.errors import MalformedCheckpointError, MalformedNoteError, MalformedProofError
from sealpact.evidence.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from sealpact.evidence.note import MAX_NOTE_BYTES, NoteVerifier, Verifiers, parse_note

HEADER = "c2sp.org/tlog-proof@v1"
#: Proof hashes for a tree of at most 2**63 leaves, plus a checkpoint note: anything bigger is refused
#: before parsing.
MAX_PROOF_HASHES = 64
MAX_PROOF_BYTES = MAX_NOTE_BYTES + 8192
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def _b64(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise MalformedProofError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise MalformedProofError(f"{what} is not canonical base64")
    return raw


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed tlog-proof: leaf index, inclusion proof, the signed checkpoint bytes, optional extra."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if self.index < 0:
            raise MalformedProofError("index must be non-negative")
        if len(self.proof) > MAX_PROOF_HASHES:
            raise MalformedProofError("inclusion proof is too long")
        if any(len(h) != HASH_SIZE for h in self.proof):
            raise MalformedProofError("inclusion proof hashes must be 32 bytes")
        if self.extra is not None and not self.extra:
            raise MalformedProofError("extra data, when present, must be non-empty")
        # The checkpoint is carried verbatim but must be a well-formed signed checkpoint (verified later).
        Checkpoint.parse(parse_note(self.checkpoint).text)

    def format(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode("ascii"))
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode("ascii") for h in self.proof)
        return ("\n".join(lines) + "\n\n").encode("ascii") + self.checkpoint


def parse_tlog_proof(data: bytes | str) -> TlogProof:
    """Parse a tlog-proof document strictly. Nothing is verified here."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_PROOF_BYTES:
        raise MalformedProofError("proof is too large")
    # The header part is ASCII; the checkpoint after the first empty line is a UTF-8 note.
    head, sep, checkpoint = raw.partition(b"\n\n")
    if not sep:
        raise MalformedProofError("proof has no empty line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise MalformedProofError("proof header is not ASCII") from None
    if lines[0] != HEADER:
        raise MalformedProofError(f"proof does not start with {HEADER}")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = _b64(lines[pos].removeprefix("extra "), "extra data")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise MalformedProofError("proof has no index line")
    index_text = lines[pos].removeprefix("index ")
    if not _DECIMAL.fullmatch(index_text):
        raise MalformedProofError("proof index is not a canonical decimal")
    hash_lines = lines[pos + 1 :]
    if len(hash_lines) > MAX_PROOF_HASHES:
        raise MalformedProofError("inclusion proof is too long")
    proof = tuple(_b64(line, "proof hash") for line in hash_lines)
    try:
        return TlogProof(int(index_text), proof, checkpoint, extra)
    except (MalformedNoteError, MalformedCheckpointError) as exc:
        raise MalformedProofError(f"proof checkpoint is malformed: {exc.message}") from None


@dataclass(frozen=True)
class VerifiedTlogProof:
    """The outcome of a successful :func:`verify_tlog_proof`."""

    proof: TlogProof
    checkpoint: VerifiedCheckpoint
    cosignatures: tuple[Cosignature, ...]

    @property
    def index(self) -> int:
        return self.proof.index

    @property
    def extra(self) -> bytes | None:
        """Unauthenticated: applications MUST NOT implicitly trust it (tlog-proof "Format")."""
        return self.proof.extra


def verify_tlog_proof(
    data: bytes | str | TlogProof,
    *,
    log_verifiers: Verifiers | Iterable[NoteVerifier],
    origin: str,
    entry: bytes | None = None,
    leaf: bytes | None = None,
    cosigners: Sequence[CosignatureV1Verifier] = (),
    quorum: int = 0,
    now: datetime | None = None,
) -> VerifiedTlogProof:
    """Verify a tlog-proof for ``entry`` (or its RFC 6962 ``leaf`` hash) against the log's key and origin.

    Raises a :class:`~sealpact.evidence.errors.EvidenceError` subclass naming the failed check: a malformed
    document, a checkpoint that does not verify or names another origin, missing cosignatures, or an
    inclusion proof that does not lead to the checkpoint's root.
    """
    if entry is not None and leaf is None:
        target = leaf_hash(entry)
    elif leaf is not None and entry is None:
        target = leaf
    else:
        raise ValueError("give exactly one of entry and leaf")
    proof = data if isinstance(data, TlogProof) else parse_tlog_proof(data)
    checkpoint = verify_checkpoint(proof.checkpoint, log_verifiers, origin=origin)
    cosigs = verify_cosignatures(checkpoint, cosigners, quorum=quorum, now=now) if cosigners or quorum else []
    verify_inclusion(target, proof.index, checkpoint.size, proof.proof, checkpoint.root_hash)
    return VerifiedTlogProof(proof, checkpoint, tuple(cosigs))
