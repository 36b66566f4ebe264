"""C2SP signed-note: parsing, formatting, Ed25519 signing and verification, verifier/signer key strings.

A signed note (c2sp.org/signed-note) is UTF-8 text ending in a newline, a blank line, then one or more
signature lines ``— <key name> <base64(uint32 key ID || signature)>``. The text is separated from the
signatures by the *last* blank line. Verification rules (signed-note "Signatures"):

- signatures from unknown keys (name and key ID not both matching) are ignored;
- a signature from a known key MUST verify, otherwise the whole note is rejected;
- at least one signature from a known key must verify.

Key strings follow the Go ``golang.org/x/mod/sumdb/note`` encoding that the C2SP ecosystem uses ("vkeys"):
verifier ``<name>+<hex key ID>+<base64(type || public key)>``, signer
``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || private key)>``.

The signature primitive is behind two small protocols (:class:`NoteSigner`, :class:`NoteVerifier`) so that
checkpoint cosignatures (:mod:`sealpact.evidence.checkpoint`) and, later, HSM-held log keys plug in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from sealpact.evidence.errors import (
    KeyFormatError,
    MalformedNoteError,
    NoteSignatureError,
    UnverifiedNoteError,
)

#: signed-note "Signature types".
SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04

#: signed-note: verifiers SHOULD limit the number of signatures but MUST accept at least 16. 100 is the
#: limit of the Go reference implementation.
MAX_SIGNATURES = 100
#: Our bound on the whole note, checked before parsing (a checkpoint with 100 Ed25519 signatures is ~15 kB).
MAX_NOTE_BYTES = 1 << 20

SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_SIGNER_KEY_PREFIX = "PRIVATE+KEY+"
_HEX_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")


# --- key names and key IDs -------------------------------------------------------------------------------


def is_valid_key_name(name: str) -> bool:
    """signed-note "Format": key names are non-empty and contain no Unicode spaces and no ``+``."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name) and _no_controls(name)


def check_key_name(name: str) -> str:
    if not is_valid_key_name(name):
        raise KeyFormatError(f"invalid key name {name!r}")
    return name


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """signed-note "Signatures": ``SHA-256(name || 0x0A || signature type || public key)[:4]``, big endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _no_controls(text: str) -> bool:
    # signed-note "Format": no ASCII control characters other than newline (DEL is not below U+0020).
    return not any(ord(ch) < 0x20 and ch != "\n" for ch in text)


def _b64decode_strict(value: str, what: str, error: type[Exception]) -> bytes:
    """RFC 4648 §4 standard base64 with padding; the encoding must be canonical (no malleable variants)."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise error(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise error(f"{what} is not canonical base64")
    return raw


# --- signer and verifier protocols -----------------------------------------------------------------------


class NoteVerifier(Protocol):
    """Checks one key's signatures on note texts."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> None:
        """Raise :class:`NoteSignatureError` unless ``signature`` (without the key ID) signs ``text``."""
        ...


class NoteSigner(Protocol):
    """Produces one key's signatures on note texts."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, text: bytes) -> bytes:
        """The signature bytes (without the key ID) over the note text."""
        ...


# --- Ed25519 (signature type 0x01) -----------------------------------------------------------------------


def _split_key(value: str, parts: int, what: str) -> list[str]:
    fields = value.split("+", parts - 1)
    if len(fields) != parts:
        raise KeyFormatError(f"{what} must have {parts} '+'-separated fields")
    return fields


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A parsed vkey: ``<name>+<hex key ID>+<base64(type || public key)>``, key ID checked."""

    name: str
    key_id: int
    signature_type: int
    public_key: bytes

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        name, hex_id, b64 = _split_key(vkey.strip(), 3, "verifier key")
        check_key_name(name)
        if not _HEX_KEY_ID.fullmatch(hex_id):
            raise KeyFormatError("verifier key ID must be 8 hex digits")
        raw = _b64decode_strict(b64, "verifier key", KeyFormatError)
        if len(raw) < 2:
            raise KeyFormatError("verifier key material is empty")
        parsed = cls(name, int(hex_id, 16), raw[0], raw[1:])
        if key_id(name, raw[0], raw[1:]) != parsed.key_id:
            raise KeyFormatError("verifier key ID does not match the key name and public key")
        return parsed

    def encode(self) -> str:
        material = base64.b64encode(bytes([self.signature_type]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{material}"


class Ed25519Verifier:
    """Ed25519 note verifier (signature type 0x01): RFC 8032 signature over the note text."""

    signature_type = SIG_TYPE_ED25519

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
        self._key_id = key_id(name, self.signature_type, public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Ed25519Verifier:
        parsed = VerifierKey.parse(vkey)
        if parsed.signature_type != cls.signature_type:
            raise KeyFormatError(f"verifier key has signature type {parsed.signature_type:#04x}, not Ed25519")
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
        return VerifierKey(self._name, self._key_id, self.signature_type, self._public_key).encode()

    def verify(self, text: bytes, signature: bytes) -> None:
        if len(signature) != 64:
            raise NoteSignatureError(f"signature by {self._name} is not a 64-byte Ed25519 signature")
        try:
            self._key.verify(signature, text)
        except InvalidSignature:
            raise NoteSignatureError(f"Ed25519 signature by {self._name} does not verify") from None

    def __repr__(self) -> str:
        return f"Ed25519Verifier({self.vkey()!r})"


class Ed25519Signer:
    """Ed25519 note signer. The private key never appears in ``repr``; :meth:`skey` exports it on purpose."""

    signature_type = SIG_TYPE_ED25519

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self._name = name
        self._private = private_key
        self._public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._key_id = key_id(name, self.signature_type, self._public_key)

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Ed25519Signer:
        if len(seed) != 32:
            raise KeyFormatError("an Ed25519 private key seed is 32 bytes")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_skey(cls, skey: str) -> Ed25519Signer:
        """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>``."""
        skey = skey.strip()
        if not skey.startswith(_SIGNER_KEY_PREFIX):
            raise KeyFormatError("signer key must start with PRIVATE+KEY+")
        name, hex_id, b64 = _split_key(skey[len(_SIGNER_KEY_PREFIX) :], 3, "signer key")
        check_key_name(name)
        if not _HEX_KEY_ID.fullmatch(hex_id):
            raise KeyFormatError("signer key ID must be 8 hex digits")
        raw = _b64decode_strict(b64, "signer key", KeyFormatError)
        if len(raw) != 33 or raw[0] != cls.signature_type:
            raise KeyFormatError("signer key is not an Ed25519 key")
        signer = cls.from_seed(name, raw[1:])
        if signer.key_id != int(hex_id, 16):
            raise KeyFormatError("signer key ID does not match the key name and key")
        return signer

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> int:
        return self._key_id

    def skey(self) -> str:
        """The signer key string. Secret: store it with the key provider, never log it."""
        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        material = base64.b64encode(bytes([self.signature_type]) + seed).decode("ascii")
        return f"{_SIGNER_KEY_PREFIX}{self._name}+{self._key_id:08x}+{material}"

    def verifier(self) -> Ed25519Verifier:
        return Ed25519Verifier(self._name, self._public_key)

    def sign(self, text: bytes) -> bytes:
        return self._private.sign(text)

    def __repr__(self) -> str:
        return f"Ed25519Signer(name={self._name!r}, key_id={self._key_id:08x})"


# --- notes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes that follow the key ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        blob = self.key_id.to_bytes(4, "big") + self.signature
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A signed note: ``text`` (ending in a newline) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...] = ()

    def __post_init__(self) -> None:
        _check_text(self.text)

    def format(self) -> bytes:
        """signed-note "Format": text, blank line, signature lines."""
        if not self.signatures:
            raise MalformedNoteError("a signed note needs at least one signature")
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode("utf-8")

    def with_signatures(self, signatures: Iterable[NoteSignature]) -> Note:
        return Note(self.text, (*self.signatures, *signatures))


def _check_text(text: str) -> None:
    if not text or not text.endswith("\n"):
        raise MalformedNoteError("note text must be non-empty and end with a newline")
    if not _no_controls(text):
        raise MalformedNoteError("note text contains a control character")


def parse_note(data: bytes | str) -> Note:
    """Parse a signed note strictly (signed-note "Format"); signatures are *not* verified here."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_NOTE_BYTES:
        raise MalformedNoteError("note is too large")
    try:
        message = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedNoteError("note is not valid UTF-8") from None
    if not _no_controls(message):
        raise MalformedNoteError("note contains a control character other than newline")
    # The text is separated from the signatures by the last blank line.
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNoteError("note has no signature lines, or they do not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNoteError("signature line does not start with an em dash and a space")
    name, sep, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not is_valid_key_name(name):
        raise MalformedNoteError("signature line has an invalid key name")
    blob = _b64decode_strict(b64, "signature", MalformedNoteError)
    if len(blob) < 5:
        raise MalformedNoteError("signature is shorter than a key ID and one byte")
    return NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def sign_note(text: str | Note, signers: Sequence[NoteSigner]) -> Note:
    """Sign ``text`` (or add signatures to an existing note) with each signer."""
    note = text if isinstance(text, Note) else Note(text)
    if not signers:
        raise MalformedNoteError("at least one signer is required")
    message = note.text.encode("utf-8")
    new = []
    for signer in signers:
        check_key_name(signer.name)
        new.append(NoteSignature(signer.name, signer.key_id, signer.sign(message)))
    # A fresh signature by a key replaces any earlier one by the same (name, key ID).
    replaced = {(s.name, s.key_id) for s in new}
    kept = [s for s in note.signatures if (s.name, s.key_id) not in replaced]
    signed = Note(note.text, (*kept, *new))
    if len(signed.signatures) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note would have more than {MAX_SIGNATURES} signatures")
    return signed


@dataclass(frozen=True)
class VerifiedNote:
    """A note whose ``verified`` signatures checked out; ``unverified`` ones are from unknown keys."""

    note: Note
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = field(default=())

    @property
    def text(self) -> str:
        return self.note.text

    def verified_by(self, name: str, key_id: int) -> bool:
        return any(s.name == name and s.key_id == key_id for s in self.verified)


class Verifiers:
    """A set of trusted verifiers, looked up by (key name, key ID)."""

    def __init__(self, verifiers: Iterable[NoteVerifier] = ()) -> None:
        self._by_key: dict[tuple[str, int], NoteVerifier] = {}
        for v in verifiers:
            self.add(v)

    def add(self, verifier: NoteVerifier) -> None:
        check_key_name(verifier.name)
        slot = (verifier.name, verifier.key_id)
        if slot in self._by_key:
            raise KeyFormatError(f"two verifiers share name {verifier.name} and key ID {verifier.key_id:08x}")
        self._by_key[slot] = verifier

    def lookup(self, name: str, key_id: int) -> NoteVerifier | None:
        return self._by_key.get((name, key_id))

    def __len__(self) -> int:
        return len(self._by_key)

    def as_mapping(self) -> Mapping[tuple[str, int], NoteVerifier]:
        return dict(self._by_key)


def verify_note(data: bytes | str | Note, verifiers: Verifiers | Iterable[NoteVerifier]) -> VerifiedNote:
    """Parse and verify a signed note; return it with the signatures that verified.

    signed-note "Signatures": unknown signatures are ignored; every signature by a known key must verify
    (:class:`NoteSignatureError` otherwise); at least one must (:class:`UnverifiedNoteError` otherwise).
    """
    note = data if isinstance(data, Note) else parse_note(data)
    known = verifiers if isinstance(verifiers, Verifiers) else Verifiers(verifiers)
    message = note.text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    for sig in note.signatures:
        verifier = known.lookup(sig.name, sig.key_id)
        if verifier is None:
            # Ignored, as the spec requires; identical repeats are dropped.
            if sig not in unverified:
                unverified.append(sig)
            continue
        # Every signature by a known key is checked, repeats included: a bad one rejects the note.
        verifier.verify(message, sig.signature)
        if sig not in verified:
            verified.append(sig)
    if not verified:
        raise UnverifiedNoteError("note carries no signature by a trusted key")
    return VerifiedNote(note, tuple(verified), tuple(unverified))
