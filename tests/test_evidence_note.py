"""C2SP signed-note: reference vectors from golang.org/x/mod/sumdb/note and the spec's rules."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.evidence.errors import (
    KeyFormatError,
    MalformedNoteError,
    NoteSignatureError,
    UnverifiedNoteError,
)
from sealpact.evidence.note import (
    MAX_SIGNATURES,
    SIG_TYPE_ED25519,
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    NoteSignature,
    VerifierKey,
    Verifiers,
    is_valid_key_name,
    key_id,
    parse_note,
    sign_note,
    verify_note,
)

# The example keys and notes of the Go reference implementation (golang.org/x/mod/sumdb/note tests).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
ENOCH_B64 = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"— EnochRoot {ENOCH_B64}\n"
PETER = Ed25519Verifier.from_vkey(PETER_VKEY)
ENOCH = Ed25519Verifier.from_vkey(ENOCH_VKEY)


def test_reference_keys_parse_and_round_trip() -> None:
    assert PETER.name == "PeterNeumann"
    assert PETER.key_id == 0xC74F20A3
    assert PETER.vkey() == PETER_VKEY
    assert ENOCH.vkey() == ENOCH_VKEY
    signer = Ed25519Signer.from_skey(PETER_SKEY)
    assert signer.key_id == PETER.key_id
    assert signer.skey() == PETER_SKEY
    assert signer.verifier().vkey() == PETER_VKEY
    assert "PRIVATE" not in repr(signer)
    assert key_id("PeterNeumann", SIG_TYPE_ED25519, PETER.public_key) == 0xC74F20A3


def test_signing_reproduces_the_reference_note_byte_for_byte() -> None:
    signer = Ed25519Signer.from_skey(PETER_SKEY)
    note = sign_note(TEXT, [signer])
    assert note.format().decode() == TEXT + "\n" + PETER_SIG
    # A new signature by the same key replaces the earlier one.
    stale = Note(TEXT, (NoteSignature("PeterNeumann", 0xC74F20A3, b"stale"),))
    assert sign_note(stale, [signer]).format().decode() == TEXT + "\n" + PETER_SIG


def test_open_one_known_one_unknown() -> None:
    verified = verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER])
    assert verified.text == TEXT
    assert [s.name for s in verified.verified] == ["PeterNeumann"]
    assert [s.name for s in verified.unverified] == ["EnochRoot"]
    assert verified.verified_by("PeterNeumann", 0xC74F20A3)

    both = verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER, ENOCH])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"]
    assert both.unverified == ()


def test_no_known_signature_is_rejected() -> None:
    with pytest.raises(UnverifiedNoteError):
        verify_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    # Same name, other key: unknown, ignored, so still unverified.
    other = Ed25519Signer.generate("PeterNeumann").verifier()
    with pytest.raises(UnverifiedNoteError):
        verify_note(TEXT + "\n" + PETER_SIG, [other])


def test_bad_signature_by_known_key_rejects_the_note() -> None:
    mangled = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteSignatureError):
        verify_note(TEXT + "\n" + mangled, [PETER])
    with pytest.raises(NoteSignatureError):
        verify_note(TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG, [PETER])
    # Even when another known signature is good.
    with pytest.raises(NoteSignatureError):
        verify_note(TEXT + "\n" + PETER_SIG + mangled, [PETER])


def test_repeated_signatures() -> None:
    enoch_abcd = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    verified = verify_note(TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd, [PETER])
    assert len(verified.verified) == 1
    assert len(verified.unverified) == 2


@pytest.mark.parametrize(
    "message",
    [
        TEXT,  # no signatures
        TEXT + "\n",  # blank line, no signatures
        TEXT + "\n" + PETER_SIG[:-1],  # missing final newline
        "\x01" + TEXT + "\n" + PETER_SIG,  # control character
        TEXT + "\n" + PETER_SIG.replace("— ", "-- "),  # not an em dash
        TEXT + "\n" + f"— Bad Name {PETER_B64}\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("x08go", "x08g"),  # not base64
        TEXT + "\n" + "— PeterNeumann AAAAAA==\n",  # shorter than key id + 1
        TEXT + "\n" + f"— a+b {PETER_B64}\n",
        "\n" + PETER_SIG,  # no text at all
        TEXT + "\n" + PETER_SIG.replace("nAM=", "nAN="),  # non-canonical base64 padding bits
        TEXT.replace("\n", "\r\n") + "\n" + PETER_SIG,  # CR is a control character
    ],
)
def test_malformed_notes(message: str) -> None:
    with pytest.raises(MalformedNoteError):
        verify_note(message, [PETER])


def test_non_utf8_is_malformed() -> None:
    with pytest.raises(MalformedNoteError):
        verify_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [PETER])


def test_signature_limit() -> None:
    # The spec asks to accept at least 16; we accept up to 100 like the reference implementation.
    assert MAX_SIGNATURES >= 16
    verify_note(TEXT + "\n" + ENOCH_SIG * 99 + PETER_SIG, [PETER])
    with pytest.raises(MalformedNoteError):
        verify_note(TEXT + "\n" + PETER_SIG * 101, [PETER])
    with pytest.raises(MalformedNoteError):
        verify_note(TEXT + "\n" + PETER_SIG * 101, [])


def test_text_may_contain_blank_lines_last_blank_line_separates() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    text = "first\n\nsecond\n"
    data = sign_note(text, [signer]).format()
    verified = verify_note(data, [signer.verifier()])
    assert verified.text == text


def test_verifier_key_manglings_are_rejected() -> None:
    # As in the reference tests: every proper substring and every single-byte change fails.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(KeyFormatError):
                    Ed25519Verifier.from_vkey(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(KeyFormatError):
            Ed25519Verifier.from_vkey(mangled)


def test_signer_key_manglings_are_rejected() -> None:
    for bad in [
        PETER_SKEY.replace("PRIVATE+KEY+", ""),
        PETER_SKEY.replace("c74f20a3", "c74f20a4"),
        PETER_SKEY.replace("PeterNeumann", "PeterNeuman"),
        PETER_SKEY[:-4],
        PETER_SKEY.replace("+AYEK", "+AoEK"),  # wrong signature type byte
    ]:
        with pytest.raises(KeyFormatError):
            Ed25519Signer.from_skey(bad)


def test_vkey_of_another_type_is_refused_as_ed25519() -> None:
    raw = PETER.public_key
    other = VerifierKey("w", key_id("w", 0x04, raw), 0x04, raw).encode()
    assert VerifierKey.parse(other).signature_type == 0x04
    with pytest.raises(KeyFormatError):
        Ed25519Verifier.from_vkey(other)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "a\u2003b", "a\tb", "a\x01b"])
def test_invalid_key_names(name: str) -> None:
    assert not is_valid_key_name(name)
    with pytest.raises(KeyFormatError):
        Ed25519Signer.generate(name)


def test_duplicate_verifiers_are_refused() -> None:
    with pytest.raises(KeyFormatError):
        Verifiers([PETER, Ed25519Verifier.from_vkey(PETER_VKEY)])


def test_sign_rejects_bad_text() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    for text in ["", "abc", "a\x00b\n"]:
        with pytest.raises(MalformedNoteError):
            sign_note(text, [signer])
    with pytest.raises(MalformedNoteError):
        sign_note("abc\n", [])


_text_lines = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(lambda s: "\n" not in s)


@settings(max_examples=60, deadline=None)
@given(st.lists(_text_lines, min_size=1, max_size=5), st.integers(0, 10_000))
def test_sign_parse_verify_round_trip_and_tamper(lines: list[str], bit: int) -> None:
    signer = Ed25519Signer.from_seed("example.com/log", bytes(range(32)))
    text = "".join(line + "\n" for line in lines)
    data = sign_note(text, [signer]).format()
    assert parse_note(data).text == text
    assert verify_note(data, [signer.verifier()]).text == text
    flipped = bytearray(data)
    flipped[bit % len(data)] ^= 1 << (bit % 8)
    with pytest.raises((MalformedNoteError, NoteSignatureError, UnverifiedNoteError)):
        verify_note(bytes(flipped), [signer.verifier()])


def test_signature_line_encoding() -> None:
    sig = NoteSignature("n", 0x01020304, b"\xff" * 3)
    assert sig.line() == "— n " + base64.b64encode(b"\x01\x02\x03\x04\xff\xff\xff").decode() + "\n"
    with pytest.raises(MalformedNoteError):
        Note(TEXT).format()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_parsing_arbitrary_input_fails_only_with_malformed_note(data: bytes | str) -> None:
    try:
        note = parse_note(data)
    except MalformedNoteError:
        return
    # Whatever parses re-formats to the same bytes.
    raw = data.encode() if isinstance(data, str) else data
    assert note.format() == raw


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_parsing_arbitrary_vkeys_fails_only_with_key_format_error(data: str) -> None:
    for candidate in (data, "PeterNeumann+" + data, PETER_VKEY[:22] + data):
        with contextlib.suppress(KeyFormatError):
            VerifierKey.parse(candidate)
