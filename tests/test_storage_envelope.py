"""The chunked encryption framing (pure module): round trips and tamper detection, property-based."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.storage.envelope import (
    HEADER_SIZE,
    TAG_SIZE,
    Opener,
    Sealer,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
    rechunk,
)
from sealpact.storage.errors import BlobIntegrityError

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
BLOB = uuid.UUID("6f0c3e1e-2a44-4f0e-9a8e-3f7f1b1a0001")
OTHER_BLOB = uuid.UUID("6f0c3e1e-2a44-4f0e-9a8e-3f7f1b1a0002")

sizes = st.integers(min_value=0, max_value=600)
chunk_sizes = st.integers(min_value=1, max_value=70)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in [*points, len(data)]:
        pieces.append(data[start:p])
        start = p
    return pieces


def _encrypt(data: bytes, chunk_size: int, blob: uuid.UUID = BLOB, key: bytes = KEY) -> bytes:
    return b"".join(encrypt_stream(key, blob, [data], chunk_size=chunk_size))


def _decrypt(stored: bytes, blob: uuid.UUID = BLOB, key: bytes = KEY) -> bytes:
    return b"".join(decrypt_stream(key, blob, [stored]))


def _records(stored: bytes, chunk_size: int) -> tuple[bytes, list[bytes]]:
    body = stored[HEADER_SIZE:]
    step = chunk_size + TAG_SIZE
    return stored[:HEADER_SIZE], [body[i : i + step] for i in range(0, len(body), step)]


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=600),
    chunk_size=chunk_sizes,
    in_cuts=st.lists(st.integers(0, 700), max_size=8),
    out_cuts=st.lists(st.integers(0, 900), max_size=8),
)
def test_round_trip_any_size_and_piece_boundaries(
    data: bytes, chunk_size: int, in_cuts: list[int], out_cuts: list[int]
) -> None:
    stored = b"".join(encrypt_stream(KEY, BLOB, _split(data, in_cuts), chunk_size=chunk_size))
    assert len(stored) == ciphertext_size(len(data), chunk_size)
    chunks = list(decrypt_stream(KEY, BLOB, _split(stored, out_cuts)))
    assert b"".join(chunks) == data
    # Full chunks except the last, which is non-empty unless the blob is empty.
    assert all(len(c) == chunk_size for c in chunks[:-1])
    assert 0 < len(chunks[-1]) <= chunk_size or data == b""


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300),
    chunk_size=chunk_sizes,
    position=st.integers(min_value=0),
    flip=st.integers(min_value=1, max_value=255),
)
def test_any_single_byte_change_is_detected(data: bytes, chunk_size: int, position: int, flip: int) -> None:
    stored = bytearray(_encrypt(data, chunk_size))
    stored[position % len(stored)] ^= flip
    with pytest.raises(BlobIntegrityError):
        _decrypt(bytes(stored))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), chunk_size=chunk_sizes, cut=st.integers(min_value=1))
def test_any_truncation_is_detected(data: bytes, chunk_size: int, cut: int) -> None:
    stored = _encrypt(data, chunk_size)
    with pytest.raises(BlobIntegrityError):
        _decrypt(stored[: len(stored) - 1 - cut % len(stored)])


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), chunk_size=chunk_sizes, extra=st.binary(min_size=1, max_size=120))
def test_any_extension_is_detected(data: bytes, chunk_size: int, extra: bytes) -> None:
    stored = _encrypt(data, chunk_size)
    with pytest.raises(BlobIntegrityError):
        _decrypt(stored + extra)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=2, max_size=300),
    chunk_size=st.integers(1, 40),
    i=st.integers(min_value=0),
    j=st.integers(min_value=0),
)
def test_record_reordering_dropping_and_duplication_are_detected(
    data: bytes, chunk_size: int, i: int, j: int
) -> None:
    header, records = _records(_encrypt(data, chunk_size), chunk_size)
    n = len(records)
    if n < 2:
        return
    i %= n
    j = (i + 1 + j % (n - 1)) % n  # a different record
    swapped = records[:]
    swapped[i], swapped[j] = swapped[j], swapped[i]
    for variant in (swapped, records[:i] + records[i + 1 :], records[: i + 1] + records[i:]):
        with pytest.raises(BlobIntegrityError):
            _decrypt(header + b"".join(variant))


def test_dropping_final_records_is_detected_even_at_a_chunk_boundary() -> None:
    data = b"a" * 64
    header, records = _records(_encrypt(data, 16), 16)
    assert len(records) == 4
    for keep in range(1, 4):
        with pytest.raises(BlobIntegrityError, match="final chunk"):
            _decrypt(header + b"".join(records[:keep]))
    with pytest.raises(BlobIntegrityError, match="truncated"):
        _decrypt(header)


def test_records_swapped_between_blobs_are_detected() -> None:
    """Even under the same key (which never happens: keys are per blob), the header binds the blob."""
    a = _encrypt(b"A" * 100, 32, BLOB)
    b = _encrypt(b"B" * 100, 32, OTHER_BLOB)
    ha, ra = _records(a, 32)
    hb, rb = _records(b, 32)
    with pytest.raises(BlobIntegrityError):
        _decrypt(ha + ra[0] + rb[1] + ra[2] + ra[3])
    with pytest.raises(BlobIntegrityError, match="another blob"):
        _decrypt(b, BLOB)  # blob b's object served for blob a
    with pytest.raises(BlobIntegrityError):
        _decrypt(hb[:16] + ha[16:] + b"".join(rb), BLOB)  # header relabelled: the tags still fail


def test_wrong_key_is_detected() -> None:
    with pytest.raises(BlobIntegrityError):
        _decrypt(_encrypt(b"hello", 4096), key=OTHER_KEY)


def test_empty_blob_is_one_empty_final_record() -> None:
    stored = _encrypt(b"", 4096)
    assert len(stored) == HEADER_SIZE + TAG_SIZE
    assert list(decrypt_stream(KEY, BLOB, [stored])) == [b""]


def test_header_checks() -> None:
    stored = bytearray(_encrypt(b"x", 64))
    for offset, message in ((0, "not a sealpact blob"), (4, "format version")):
        bad = bytearray(stored)
        bad[offset] ^= 0xFF
        with pytest.raises(BlobIntegrityError, match=message):
            _decrypt(bytes(bad))
    with pytest.raises(BlobIntegrityError, match="truncated"):
        _decrypt(bytes(stored[:10]))


def test_seal_into_matches_seal_and_rules_are_enforced() -> None:
    prefix = b"\x07" * 7
    a = Sealer(KEY, BLOB, 8, nonce_prefix=prefix)
    b = Sealer(KEY, BLOB, 8, nonce_prefix=prefix)
    out = bytearray(8 + TAG_SIZE)
    assert bytes(a.seal_into(b"12345678", out, last=False)) == b.seal(b"12345678", last=False)
    assert bytes(a.seal_into(b"9", out, last=True)) == b.seal(b"9", last=True)
    with pytest.raises(BlobIntegrityError, match="after the final chunk"):
        a.seal(b"x", last=True)
    with pytest.raises(ValueError):
        Sealer(KEY, BLOB, 8).seal(b"short", last=False)
    opener = Opener(KEY, BLOB, a.header_bytes)
    plain = bytearray(8)
    c = Sealer(KEY, BLOB, 8, nonce_prefix=prefix)
    assert bytes(opener.open_into(c.seal(b"abcdefgh", last=False), plain, last=False)) == b"abcdefgh"


def test_rechunk_holds_back_the_last_full_chunk() -> None:
    assert list(rechunk([], 4)) == [(b"", True)]
    assert list(rechunk([b"ab", b"cd"], 4)) == [(b"abcd", True)]
    assert list(rechunk([b"abcde"], 4)) == [(b"abcd", False), (b"e", True)]
    assert list(rechunk([b"abcd", b"", b"efgh"], 4)) == [(b"abcd", False), (b"efgh", True)]
