"""C2SP tlog-checkpoint and tlog-cosignature (Ed25519 ``cosignature/v1``).

A checkpoint (c2sp.org/tlog-checkpoint "Note text") is a signed note whose text is:

1. the origin, a non-empty line identifying the log;
2. the tree size in ASCII decimal, no leading zeroes (``0`` for the empty tree);
3. the base64 RFC 6962 root hash;
4. optional non-empty extension lines.

A witness cosignature (c2sp.org/tlog-cosignature) is a note signature of type 0x04 whose bytes are a
``timestamped_signature``: a big-endian u64 POSIX timestamp and an Ed25519 signature over
``"cosignature/v1\\ntime <timestamp>\\n" || checkpoint note text``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sealpact.clock import Clock
from sealpact.evidence.errors import (
    CheckpointMismatchError,
    CosignatureError,
    KeyFormatError,
    MalformedCheckpointError,
    NoteSignatureError,
)
from sealpact.evidence.merkle import HASH_SIZE
from sealpact.evidence.note import (
    SIG_TYPE_COSIGNATURE_V1,
    Note,
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    VerifierKey,
    Verifiers,
    check_key_name,
    key_id,
    parse_note,
    sign_note,
    verify_note,
)

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
#: u64 on the wire in related specs (tlog-witness, tlog-tiles indexes); Python ints are unbounded.
MAX_TREE_SIZE = (1 << 63) - 1
#: tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1.
MAX_TIMESTAMP = (1 << 63) - 1
COSIGNATURE_V1_HEADER = "cosignature/v1\n"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The body of a checkpoint: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or not _printable(self.origin):
            raise MalformedCheckpointError("checkpoint origin must be a non-empty line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedCheckpointError("checkpoint tree size is out of range")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedCheckpointError("checkpoint root hash must be 32 bytes")
        for line in self.extensions:
            if not line or "\n" in line or not _printable(line):
                raise MalformedCheckpointError("checkpoint extension lines must be non-empty single lines")

    def text(self) -> str:
        """The note text: each line newline-terminated."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly (tlog-checkpoint "Note text")."""
        if not text.endswith("\n"):
            raise MalformedCheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError("checkpoint text needs an origin, a size and a root hash")
        origin, size_line, root_line, *extensions = lines
        # Step 2: ASCII decimal with no leading zeroes.
        if not _DECIMAL.fullmatch(size_line):
            raise MalformedCheckpointError("checkpoint tree size is not a canonical decimal")
        size = int(size_line)
        # Step 3: standard base64 of the 32-byte root.
        try:
            root = base64.b64decode(root_line.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise MalformedCheckpointError("checkpoint root hash is not valid base64") from None
        if base64.b64encode(root).decode("ascii") != root_line:
            raise MalformedCheckpointError("checkpoint root hash is not canonical base64")
        return cls(origin, size, root, tuple(extensions))

    def sign(self, signers: Sequence[NoteSigner]) -> Note:
        """A signed note over this checkpoint. The log's key name SHOULD match the origin."""
        return sign_note(self.text(), signers)


def _printable(line: str) -> bool:
    return not any(ord(ch) < 0x20 for ch in line)


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose note was verified by a trusted log key."""

    checkpoint: Checkpoint
    note: VerifiedNote

    @property
    def origin(self) -> str:
        return self.checkpoint.origin

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


def verify_checkpoint(
    data: bytes | str | Note,
    log_verifiers: Verifiers | Iterable[NoteVerifier],
    *,
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """Verify a signed checkpoint with the log's key(s) and parse its body.

    The note is verified first (c2sp signed-note: the text MUST be ignored until then); then the body
    is parsed; if ``origin`` is given the origin line must equal it (tlog-checkpoint: the origin
    identifies the log, and a checkpoint of another log signed with a reused key must not pass).
    """
    verified = verify_note(data, log_verifiers)
    checkpoint = Checkpoint.parse(verified.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointMismatchError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return VerifiedCheckpoint(checkpoint, verified)


# --- cosignatures (tlog-cosignature, Ed25519 v1) ---------------------------------------------------------


def cosignature_v1_message(text: str, timestamp: int) -> bytes:
    """tlog-cosignature "Ed25519 signed message": header, time line, then the whole checkpoint text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError("cosignature timestamp is out of range")
    return f"{COSIGNATURE_V1_HEADER}time {timestamp}\n{text}".encode()


class CosignatureV1Verifier:
    """Verifies Ed25519 ``cosignature/v1`` signatures (signature type 0x04) of one cosigner."""

    signature_type = SIG_TYPE_COSIGNATURE_V1

    def __init__(self, name: str, public_key: bytes) -> None:
        check_key_name(name)
        if len(public_key) != 32:
            raise KeyFormatError("an Ed25519 public key is 32 bytes")
        self._name = name
        self._public_key = public_key
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError:
            raise KeyFormatError("not a valid Ed25519 public key") from None
        # tlog-cosignature "Format": SHA-256(<name> || "\n" || 0x04 || 32-byte public key)[:4].
        self._key_id = key_id(name, SIG_TYPE_COSIGNATURE_V1, public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureV1Verifier:
        parsed = VerifierKey.parse(vkey)
        if parsed.signature_type != SIG_TYPE_COSIGNATURE_V1:
            raise KeyFormatError("verifier key is not an Ed25519 cosignature (type 0x04) key")
        return cls(parsed.name, parsed.public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def vkey(self) -> str:
        return VerifierKey(self._name, self._key_id, SIG_TYPE_COSIGNATURE_V1, self._public_key).encode()

    def verify(self, text: bytes, signature: bytes) -> None:
        """``signature`` is the ``timestamped_signature``: u64 big-endian timestamp, 64-byte Ed25519."""
        if len(signature) != 8 + 64:
            raise NoteSignatureError(f"cosignature by {self._name} is not a 72-byte timestamped signature")
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise NoteSignatureError(f"cosignature by {self._name} has a timestamp above 2^63-1")
        try:
            message = cosignature_v1_message(text.decode("utf-8"), timestamp)
            self._key.verify(signature[8:], message)
        except (InvalidSignature, CosignatureError, UnicodeDecodeError):
            raise NoteSignatureError(f"cosignature by {self._name} does not verify") from None


class CosignatureV1Signer:
    """A witness's Ed25519 ``cosignature/v1`` signer; the time comes from an injected clock."""

    signature_type = SIG_TYPE_COSIGNATURE_V1

    def __init__(self, name: str, private_key: Ed25519PrivateKey, clock: Clock) -> None:
        check_key_name(name)
        self._name = name
        self._private = private_key
        self._public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._key_id = key_id(name, SIG_TYPE_COSIGNATURE_V1, self._public_key)
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    def verifier(self) -> CosignatureV1Verifier:
        return CosignatureV1Verifier(self._name, self._public_key)

    def sign(self, text: bytes) -> bytes:
        # A cosignature covers a checkpoint: refuse to cosign anything else.
        body = text.decode("utf-8")
        Checkpoint.parse(body)
        timestamp = int(self._clock.now().timestamp())
        signature = self._private.sign(cosignature_v1_message(body, timestamp))
        return timestamp.to_bytes(8, "big") + signature

    def __repr__(self) -> str:
        return f"CosignatureV1Signer(name={self._name!r}, key_id={self._key_id:08x})"


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A verified witness cosignature."""

    name: str
    key_id: int
    timestamp: int

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


def cosign(note: Note | bytes | str, signers: Sequence[CosignatureV1Signer]) -> Note:
    """Add cosignatures to a signed checkpoint (the caller has verified it and its consistency)."""
    parsed = note if isinstance(note, Note) else parse_note(note)
    return sign_note(parsed, signers)


def verify_cosignatures(
    checkpoint: VerifiedCheckpoint,
    cosigners: Iterable[CosignatureV1Verifier],
    *,
    quorum: int,
    now: datetime | None = None,
    max_future_seconds: int = 300,
) -> list[Cosignature]:
    """Verify the cosignatures on an already log-verified checkpoint and require ``quorum`` of them.

    Each configured cosigner counts once. A signature line matching a cosigner's (name, key ID) must
    verify (signed-note: a failing known signature rejects the note). If ``now`` is given, cosignatures
    timestamped more than ``max_future_seconds`` after it are rejected (tlog-cosignature: verifiers MAY
    reject timestamps in the future).
    """
    if quorum < 0:
        raise ValueError("quorum must be non-negative")
    known = Verifiers(cosigners)
    message = checkpoint.note.note.text.encode("utf-8")
    found: dict[tuple[str, int], Cosignature] = {}
    for sig in checkpoint.note.note.signatures:
        verifier = known.lookup(sig.name, sig.key_id)
        if verifier is None:
            continue
        try:
            verifier.verify(message, sig.signature)
        except NoteSignatureError as exc:
            raise CosignatureError(exc.message) from None
        cosig = Cosignature(sig.name, sig.key_id, int.from_bytes(sig.signature[:8], "big"))
        if now is not None and cosig.timestamp > now.timestamp() + max_future_seconds:
            raise CosignatureError(f"cosignature by {sig.name} is timestamped in the future")
        found.setdefault((sig.name, sig.key_id), cosig)
    if len(found) < quorum:
        raise CosignatureError(f"checkpoint has {len(found)} valid cosignatures, {quorum} required")
    return list(found.values())
