"""C2SP tlog-proof documents: format, strict parsing, verification end to end."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.clock import FrozenClock
from sealpact.evidence.checkpoint import Checkpoint, CosignatureV1Signer, cosign
from sealpact.evidence.errors import (
    CheckpointMismatchError,
    CosignatureError,
    EvidenceError,
    InclusionProofError,
    MalformedProofError,
    UnverifiedNoteError,
)
from sealpact.evidence.merkle import MemoryHashStore, inclusion_proof, leaf_hash
from sealpact.evidence.note import Ed25519Signer, Ed25519Verifier
from sealpact.evidence.proofs import HEADER, TlogProof, parse_tlog_proof, verify_tlog_proof
from tests.vectors import VECTORS_DIR

ORIGIN = "log.sealpact.test/evidence"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LOG = Ed25519Signer.from_seed(ORIGIN, b"\x07" * 32)
WITNESS = CosignatureV1Signer(
    "w.example", Ed25519PrivateKey.from_private_bytes(b"\x08" * 32), FrozenClock(NOW)
)
ENTRIES = [f"evidence event {i}".encode() for i in range(37)]


def _proof(index: int, extra: bytes | None = None, cosigned: bool = False) -> TlogProof:
    store = MemoryHashStore.from_leaf_hashes(leaf_hash(e) for e in ENTRIES)
    note = Checkpoint(ORIGIN, store.size, store.root()).sign([LOG])
    if cosigned:
        note = cosign(note, [WITNESS])
    return TlogProof(index, tuple(inclusion_proof(index, store.size, store)), note.format(), extra)


def test_format_layout_matches_the_spec() -> None:
    proof = _proof(5, extra=b"context")
    text = proof.format().decode()
    lines = text.split("\n")
    assert lines[0] == HEADER
    assert lines[1] == "extra " + base64.b64encode(b"context").decode()
    assert lines[2] == "index 5"
    hashes = lines[3 : 3 + len(proof.proof)]
    assert [base64.b64decode(h) for h in hashes] == list(proof.proof)
    assert lines[3 + len(proof.proof)] == ""
    assert text.endswith(proof.checkpoint.decode())
    assert parse_tlog_proof(text) == proof


def test_round_trip_without_extra_and_verify() -> None:
    for index in (0, 17, 36):
        proof = _proof(index)
        parsed = parse_tlog_proof(proof.format())
        assert parsed == proof and parsed.extra is None
        verified = verify_tlog_proof(
            proof.format(), log_verifiers=[LOG.verifier()], origin=ORIGIN, entry=ENTRIES[index]
        )
        assert verified.index == index
        assert verified.checkpoint.size == len(ENTRIES)
        verify_tlog_proof(
            parsed, log_verifiers=[LOG.verifier()], origin=ORIGIN, leaf=leaf_hash(ENTRIES[index])
        )


def test_single_entry_log_has_an_empty_proof() -> None:
    note = Checkpoint(ORIGIN, 1, leaf_hash(b"only")).sign([LOG])
    proof = TlogProof(0, (), note.format())
    assert b"index 0\n\n" in proof.format()
    verify_tlog_proof(proof.format(), log_verifiers=[LOG.verifier()], origin=ORIGIN, entry=b"only")


def test_wrong_entry_index_origin_or_key_fail() -> None:
    data = _proof(3).format()
    keys = [LOG.verifier()]
    with pytest.raises(InclusionProofError):
        verify_tlog_proof(data, log_verifiers=keys, origin=ORIGIN, entry=ENTRIES[4])
    moved = data.replace(b"index 3", b"index 4")
    with pytest.raises(InclusionProofError):
        verify_tlog_proof(moved, log_verifiers=keys, origin=ORIGIN, entry=ENTRIES[3])
    with pytest.raises(CheckpointMismatchError):
        verify_tlog_proof(data, log_verifiers=[LOG.verifier()], origin="other.example/log", entry=ENTRIES[3])
    other = Ed25519Signer.generate(ORIGIN).verifier()
    with pytest.raises(UnverifiedNoteError):
        verify_tlog_proof(data, log_verifiers=[other], origin=ORIGIN, entry=ENTRIES[3])
    with pytest.raises(ValueError):
        verify_tlog_proof(data, log_verifiers=[LOG.verifier()], origin=ORIGIN)


def test_cosignature_quorum() -> None:
    data = _proof(9, cosigned=True).format()
    verified = verify_tlog_proof(
        data,
        log_verifiers=[LOG.verifier()],
        origin=ORIGIN,
        entry=ENTRIES[9],
        cosigners=[WITNESS.verifier()],
        quorum=1,
        now=NOW,
    )
    assert [c.name for c in verified.cosignatures] == ["w.example"]
    with pytest.raises(CosignatureError):
        verify_tlog_proof(
            _proof(9).format(),
            log_verifiers=[LOG.verifier()],
            origin=ORIGIN,
            entry=ENTRIES[9],
            cosigners=[WITNESS.verifier()],
            quorum=1,
        )


def test_every_flipped_byte_fails() -> None:
    data = _proof(21, extra=b"x", cosigned=True).format()
    extra_line_end = data.index(b"\nindex")
    for i in range(len(data)):
        if i < extra_line_end and i >= len(HEADER) + len("\nextra "):
            continue  # the extra data is unauthenticated by design
        mutated = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        with pytest.raises(EvidenceError):
            verify_tlog_proof(
                mutated,
                log_verifiers=[LOG.verifier()],
                origin=ORIGIN,
                entry=ENTRIES[21],
                cosigners=[WITNESS.verifier()],
                quorum=1,
            )


def test_extra_is_not_authenticated() -> None:
    data = _proof(2, extra=b"hello").format()
    swapped = data.replace(base64.b64encode(b"hello"), base64.b64encode(b"HELLO"))
    verified = verify_tlog_proof(swapped, log_verifiers=[LOG.verifier()], origin=ORIGIN, entry=ENTRIES[2])
    assert verified.extra == b"HELLO"


GOOD = _proof(4).format()


@pytest.mark.parametrize(
    "data",
    [
        GOOD.replace(HEADER.encode(), b"c2sp.org/tlog-proof@v2"),
        GOOD.replace(b"index 4", b"index 04"),
        GOOD.replace(b"index 4", b"index -4"),
        GOOD.replace(b"index 4", b"index  4"),
        GOOD.replace(b"index 4", b"idx 4"),
        GOOD.replace(b"index 4\n", b""),
        GOOD.replace(b"index 4", b"index 4\nextra aGk="),  # extra after index
        GOOD.replace(b"index 4", b"extra \nindex 4"),  # empty extra
        GOOD.replace(b"index 4", b"extra aGk\nindex 4"),  # bad base64
        GOOD.replace(b"index 4\n", b"index 4\nAAAA\n"),  # short hash
        GOOD.replace(b"index 4\n", b"index 4\n\n"),  # checkpoint after two blank lines: not a note
        GOOD[: GOOD.index(b"\n\n")],  # no checkpoint at all
        GOOD.replace(b"\n\n", b"\n", 1),  # no separating empty line
        b"\xff" + GOOD,
        GOOD.replace(b"index 4", "index ４".encode()),  # full-width digit
    ],
)
def test_malformed_proofs(data: bytes) -> None:
    with pytest.raises(MalformedProofError):
        parse_tlog_proof(data)


def test_size_limit() -> None:
    with pytest.raises(MalformedProofError):
        parse_tlog_proof(GOOD + b"x" * (2 << 20))
    with pytest.raises(MalformedProofError):
        TlogProof(0, (b"\x00" * 32,) * 65, _proof(0).checkpoint)


def test_rekor_v2_entry_as_a_tlog_proof() -> None:
    # Repackage the real Rekor v2 staging entry as a tlog-proof and verify it with our code.
    vectors = VECTORS_DIR / "rekor-v2"
    bundle = json.loads((vectors / "staging-rekor-v2.txt.sigstore.json").read_text())
    trusted = json.loads((vectors / "staging-trusted-root.json").read_text())
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    (tlog,) = [t for t in trusted["tlogs"] if t["publicKey"]["keyDetails"] == "PKIX_ED25519"]
    origin = tlog["baseUrl"].removeprefix("https://")
    verifier = Ed25519Verifier(origin, base64.b64decode(tlog["publicKey"]["rawBytes"])[-32:])
    inclusion = entry["inclusionProof"]
    proof = TlogProof(
        int(inclusion["logIndex"]),
        tuple(base64.b64decode(h) for h in inclusion["hashes"]),
        inclusion["checkpoint"]["envelope"].encode(),
    )
    body = base64.b64decode(entry["canonicalizedBody"])
    verified = verify_tlog_proof(proof.format(), log_verifiers=[verifier], origin=origin, entry=body)
    assert verified.index == 645 and verified.checkpoint.size == 646


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, len(GOOD)))
def test_parsing_arbitrary_input_fails_only_with_malformed_proof(junk: bytes, at: int) -> None:
    for data in (junk, GOOD[:at] + junk, GOOD[:at] + junk + GOOD[at:]):
        try:
            parsed = parse_tlog_proof(data)
        except MalformedProofError:
            continue
        assert parsed.format() == data
