"""Chunked authenticated encryption of one blob (pure: no I/O, no threads).

Construction: the STREAM scheme of Hoang, Reyhanitabar, Rogaway and Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance" (CRYPTO 2015, section 7), over
AES-256-GCM (NIST SP 800-38D), as in Tink's streaming AEAD. Each blob has its own fresh data key.

Stored object layout::

    header (32 bytes) || record 0 || record 1 || ... || record n-1

    header  = magic "SPB1"[4] || format version u8 || chunk size u32 BE || nonce prefix[7]
              || blob id (UUID)[16]
    record  = AES-256-GCM(key, nonce_i, chunk_i, aad=header) = ciphertext || tag[16]
    nonce_i = nonce prefix[7] || i as u32 BE || last flag (0x01 on the final record, else 0x00)

Every chunk holds ``chunk size`` plaintext bytes except the final one, which holds 1..chunk size bytes
(0 only for an empty blob, which is one empty final record). Because the index and the final flag are
in the nonce and the header (with the blob id) is the associated data, reordering, dropping, duplicating
or appending records, cutting the object short, or moving records between blobs makes a tag check fail.
"""

from __future__ import annotations

import secrets
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealpact.storage.errors import BlobIntegrityError

MAGIC = b"SPB1"
FORMAT_VERSION = 1
HEADER_SIZE = 32
TAG_SIZE = 16
KEY_SIZE = 32
NONCE_PREFIX_SIZE = 7
MAX_CHUNK_SIZE = 64 << 20
MAX_CHUNKS = 1 << 32  # the u32 counter in the nonce must never wrap
_HEADER = struct.Struct(">4sBI7s16s")
_LAST = b"\x01"
_NOT_LAST = b"\x00"


@dataclass(frozen=True)
class Header:
    chunk_size: int
    nonce_prefix: bytes
    blob_id: uuid.UUID
    version: int = FORMAT_VERSION

    def encode(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.chunk_size, self.nonce_prefix, self.blob_id.bytes)

    @classmethod
    def parse(cls, data: bytes, *, blob_id: uuid.UUID) -> Header:
        """Decode and check a header; the blob id must be the one the caller asked for."""
        if len(data) != HEADER_SIZE:
            raise BlobIntegrityError("The stored blob is truncated (incomplete header).")
        magic, version, chunk_size, prefix, raw_id = _HEADER.unpack(data)
        if magic != MAGIC:
            raise BlobIntegrityError("The stored object is not a sealpact blob.")
        if version != FORMAT_VERSION:
            raise BlobIntegrityError(f"Unsupported blob format version {version}.")
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise BlobIntegrityError("The blob header names an invalid chunk size.")
        if raw_id != blob_id.bytes:
            raise BlobIntegrityError("The stored object belongs to another blob.")
        return cls(chunk_size=chunk_size, nonce_prefix=prefix, blob_id=blob_id, version=version)


def _check_chunk_size(chunk_size: int) -> None:
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be 1..{MAX_CHUNK_SIZE} bytes")


def ciphertext_size(plaintext_size: int, chunk_size: int) -> int:
    """Stored size of a blob of ``plaintext_size`` bytes (header + one tag per record)."""
    _check_chunk_size(chunk_size)
    records = max(1, -(-plaintext_size // chunk_size))
    return HEADER_SIZE + plaintext_size + records * TAG_SIZE


def new_data_key() -> bytes:
    return secrets.token_bytes(KEY_SIZE)


class _Stream:
    def __init__(self, key: bytes, header: Header) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("the data key must be 256 bits")
        self.header = header
        self.header_bytes = header.encode()
        self._aead = AESGCM(key)
        self._index = 0
        self._finished = False

    def _next_nonce(self, last: bool) -> bytes:
        if self._finished:
            raise BlobIntegrityError("Data after the final chunk of the blob.")
        if self._index >= MAX_CHUNKS:
            raise BlobIntegrityError("The blob has more chunks than the format allows.")
        nonce = self.header.nonce_prefix + self._index.to_bytes(4, "big") + (_LAST if last else _NOT_LAST)
        self._index += 1
        self._finished = last
        return nonce

    @property
    def index(self) -> int:
        """How many records have been processed so far."""
        return self._index

    @property
    def finished(self) -> bool:
        return self._finished


class Sealer(_Stream):
    """Encrypts one blob record by record. Call :meth:`seal` once per chunk, ``last=True`` at the end."""

    def __init__(
        self, key: bytes, blob_id: uuid.UUID, chunk_size: int, *, nonce_prefix: bytes | None = None
    ) -> None:
        _check_chunk_size(chunk_size)
        prefix = nonce_prefix if nonce_prefix is not None else secrets.token_bytes(NONCE_PREFIX_SIZE)
        if len(prefix) != NONCE_PREFIX_SIZE:
            raise ValueError("nonce prefix must be 7 bytes")
        super().__init__(key, Header(chunk_size=chunk_size, nonce_prefix=prefix, blob_id=blob_id))

    def _check(self, chunk: bytes | memoryview | bytearray, last: bool) -> None:
        size = len(chunk)
        if size > self.header.chunk_size or (not last and size != self.header.chunk_size):
            raise ValueError("only the final chunk may be shorter than the chunk size")
        if last and size == 0 and self._index > 0:
            raise ValueError("an empty final chunk is only allowed for an empty blob")

    def seal(self, chunk: bytes | memoryview | bytearray, *, last: bool) -> bytes:
        self._check(chunk, last)
        return self._aead.encrypt(self._next_nonce(last), chunk, self.header_bytes)

    def seal_into(self, chunk: bytes | memoryview | bytearray, out: bytearray, *, last: bool) -> memoryview:
        """Like :meth:`seal` but writes into ``out`` (reused between calls: no allocation per chunk)."""
        self._check(chunk, last)
        size = len(chunk) + TAG_SIZE
        view = memoryview(out)[:size]
        self._aead.encrypt_into(self._next_nonce(last), chunk, self.header_bytes, view)
        return view


class Opener(_Stream):
    """Decrypts one blob record by record after checking its header."""

    def __init__(self, key: bytes, blob_id: uuid.UUID, header: bytes) -> None:
        super().__init__(key, Header.parse(header, blob_id=blob_id))

    @property
    def record_size(self) -> int:
        return self.header.chunk_size + TAG_SIZE

    def seek_record(self, index: int) -> None:
        """Continue at record ``index``: random access to a byte range (only an opener may seek;
        a sealer that could would reuse nonces)."""
        if not 0 <= index < MAX_CHUNKS:
            raise ValueError("record index out of range")
        self._index = index
        self._finished = False

    def _check(self, record: bytes | memoryview | bytearray, last: bool) -> None:
        size = len(record)
        if size < TAG_SIZE or size > self.record_size or (not last and size != self.record_size):
            raise BlobIntegrityError(f"Chunk {self._index} of the blob has the wrong length.")
        if last and size == TAG_SIZE and self._index > 0:
            raise BlobIntegrityError("The blob ends with an empty chunk it cannot have.")

    def open(self, record: bytes | memoryview | bytearray, *, last: bool) -> bytes:
        self._check(record, last)
        index = self._index
        try:
            return self._aead.decrypt(self._next_nonce(last), record, self.header_bytes)
        except InvalidTag:
            raise _auth_error(index, last) from None

    def open_into(self, record: bytes | memoryview | bytearray, out: bytearray, *, last: bool) -> memoryview:
        """Like :meth:`open` but writes the plaintext into ``out`` (reused between calls)."""
        self._check(record, last)
        index = self._index
        view = memoryview(out)[: len(record) - TAG_SIZE]
        try:
            self._aead.decrypt_into(self._next_nonce(last), record, self.header_bytes, view)
        except InvalidTag:
            raise _auth_error(index, last) from None
        return view


def _auth_error(index: int, last: bool) -> BlobIntegrityError:
    where = "final chunk" if last else "chunk"
    return BlobIntegrityError(
        f"The blob's {where} {index} does not authenticate (tampered, reordered, truncated or extended)."
    )


# -- whole-stream helpers -----------------------------------------------------------------------


def rechunk(
    pieces: Iterable[bytes | bytearray | memoryview], chunk_size: int
) -> Iterator[tuple[bytes, bool]]:
    """Regroup pieces of any size into ``(chunk, is_last)`` with full chunks except the last.

    Holds at most one chunk plus one piece in memory; an empty input gives one empty final chunk.
    """
    _check_chunk_size(chunk_size)
    buffer = bytearray()
    pending: bytes | None = None  # a full chunk, held back until we know whether more follows
    for piece in pieces:
        if not piece:
            continue
        buffer += piece
        while len(buffer) >= chunk_size:
            if pending is not None:
                yield pending, False
            pending = bytes(buffer[:chunk_size])
            del buffer[:chunk_size]
    if pending is not None:
        if buffer:
            yield pending, False
        else:
            yield pending, True
            return
    yield bytes(buffer), True


def encrypt_stream(
    key: bytes,
    blob_id: uuid.UUID,
    pieces: Iterable[bytes | bytearray | memoryview],
    *,
    chunk_size: int,
    nonce_prefix: bytes | None = None,
) -> Iterator[bytes]:
    """Yield the header, then one record per chunk of the plaintext ``pieces``."""
    sealer = Sealer(key, blob_id, chunk_size, nonce_prefix=nonce_prefix)
    yield sealer.header_bytes
    for chunk, last in rechunk(pieces, chunk_size):
        yield sealer.seal(chunk, last=last)


def read_exact(read: Callable[[int], bytes], size: int) -> bytes:
    """Up to ``size`` bytes from ``read``, fewer only at the end of the stream (short reads retried)."""
    data = read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def iter_records(read: Callable[[int], bytes], record_size: int) -> Iterator[tuple[bytes, bool]]:
    """Split the stored bytes after the header into ``(record, is_last)``.

    Reads one record ahead, so it knows which record is the last before it is opened.
    """
    current = read_exact(read, record_size)
    if len(current) < TAG_SIZE:
        raise BlobIntegrityError("The stored blob is truncated.")
    while True:
        following = read_exact(read, record_size) if len(current) == record_size else b""
        last = not following
        yield current, last
        if last:
            return
        if len(following) < TAG_SIZE:
            # A fragment too short to be a record: the object was cut or had bytes appended.
            raise BlobIntegrityError("The stored blob is truncated or has trailing data.")
        current = following


def decrypt_reader(key: bytes, blob_id: uuid.UUID, read: Callable[[int], bytes]) -> Iterator[bytes]:
    """Yield the plaintext chunks of the blob whose stored bytes ``read(n)`` returns, in order.

    Raises :class:`BlobIntegrityError` on any tampering, truncation, reordering or extension; a caller
    that streams the plaintext onward must treat what it already passed on as unverified until the
    iterator ends without error (each chunk is authentic, but the blob may still prove cut short).
    """
    opener = Opener(key, blob_id, read_exact(read, HEADER_SIZE))
    for record, last in iter_records(read, opener.record_size):
        yield opener.open(record, last=last)


def decrypt_stream(
    key: bytes, blob_id: uuid.UUID, pieces: Iterable[bytes | bytearray | memoryview]
) -> Iterator[bytes]:
    """:func:`decrypt_reader` over an iterable of stored-byte pieces of any size."""
    return decrypt_reader(key, blob_id, _IterReader(pieces).read)


class _IterReader:
    def __init__(self, pieces: Iterable[bytes | bytearray | memoryview]) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            piece = next(self._pieces, None)
            if piece is None:
                break
            self._buffer += piece
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data
