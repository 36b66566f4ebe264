"""C2SP tlog-checkpoint and tlog-cosignature, plus the real Rekor v2 (staging) checkpoint and proof."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.clock import FrozenClock
from sealpact.evidence.checkpoint import (
    Checkpoint,
    CosignatureV1Signer,
    CosignatureV1Verifier,
    cosign,
    cosignature_v1_message,
    verify_checkpoint,
    verify_cosignatures,
)
from sealpact.evidence.errors import (
    CheckpointMismatchError,
    CosignatureError,
    EvidenceError,
    InclusionProofError,
    KeyFormatError,
    MalformedCheckpointError,
    NoteSignatureError,
    UnverifiedNoteError,
)
from sealpact.evidence.merkle import leaf_hash, verify_inclusion
from sealpact.evidence.note import (
    SIG_TYPE_ED25519,
    Ed25519Signer,
    Ed25519Verifier,
    key_id,
    parse_note,
    sign_note,
)
from tests.vectors import VECTORS_DIR

REKOR = VECTORS_DIR / "rekor-v2"
ROOT = bytes(range(32))

# --- checkpoint body -------------------------------------------------------------------------------------


def test_spec_example_body_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse(text)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.text() == text


def test_extensions_round_trip() -> None:
    cp = Checkpoint("log.example/a", 0, ROOT, ("ext one", "ext two"))
    assert Checkpoint.parse(cp.text()) == cp


ROOT_B64 = base64.b64encode(ROOT).decode()
URLSAFE_B64 = base64.urlsafe_b64encode(bytes([0xFF]) * 32).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"origin\n10\n{ROOT_B64}",  # no final newline
        "origin\n10\n",  # missing root
        f"\n10\n{ROOT_B64}\n",  # empty origin
        f"origin\n010\n{ROOT_B64}\n",  # leading zero
        f"origin\n00\n{ROOT_B64}\n",
        f"origin\n+10\n{ROOT_B64}\n",
        f"origin\n-1\n{ROOT_B64}\n",
        f"origin\n 10\n{ROOT_B64}\n",
        f"origin\n1_0\n{ROOT_B64}\n",
        f"origin\n١٠\n{ROOT_B64}\n",  # non-ASCII digits
        f"origin\n{1 << 63}\n{ROOT_B64}\n",  # beyond u63
        "origin\n10\nAAAA\n",  # root not 32 bytes
        f"origin\n10\n{ROOT_B64[:-1]}\n",  # bad padding
        f"origin\n10\n{ROOT_B64.replace('=', '')}\n",  # unpadded
        f"origin\n10\n{URLSAFE_B64}\n",  # URL alphabet
        f"origin\n10\n{ROOT_B64}\n\n",  # empty extension line
        f"origin\n10\n{ROOT_B64}\next\n\n",
    ],
)
def test_malformed_checkpoint_bodies(text: str) -> None:
    with pytest.raises(MalformedCheckpointError):
        Checkpoint.parse(text)


def test_zero_size_is_canonical() -> None:
    assert Checkpoint.parse(f"o\n0\n{ROOT_B64}\n").size == 0


def test_non_canonical_root_base64_padding_bits() -> None:
    # The last base64 character of a 32-byte value carries 2 unused bits; they must be zero.
    root_b64 = base64.b64encode(b"\x00" * 32).decode()  # ...AAA=
    tweaked = root_b64[:-2] + "B="
    with pytest.raises(MalformedCheckpointError):
        Checkpoint.parse(f"o\n1\n{tweaked}\n")


def test_constructor_validation() -> None:
    with pytest.raises(MalformedCheckpointError):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(MalformedCheckpointError):
        Checkpoint("a", -1, ROOT)
    with pytest.raises(MalformedCheckpointError):
        Checkpoint("a", 1, ROOT[:31])
    with pytest.raises(MalformedCheckpointError):
        Checkpoint("a", 1, ROOT, ("",))


# --- signing and verifying -------------------------------------------------------------------------------


def _log() -> Ed25519Signer:
    return Ed25519Signer.from_seed("log.sealpact.test/evidence", b"\x01" * 32)


def test_sign_and_verify_checkpoint() -> None:
    log = _log()
    cp = Checkpoint("log.sealpact.test/evidence", 42, ROOT)
    data = cp.sign([log]).format()
    verified = verify_checkpoint(data, [log.verifier()], origin="log.sealpact.test/evidence")
    assert verified.checkpoint == cp
    assert (verified.origin, verified.size, verified.root_hash) == (cp.origin, 42, ROOT)


def test_checkpoint_wrong_origin_or_key() -> None:
    log = _log()
    data = Checkpoint("log.sealpact.test/evidence", 42, ROOT).sign([log]).format()
    with pytest.raises(CheckpointMismatchError):
        verify_checkpoint(data, [log.verifier()], origin="other.example/log")
    with pytest.raises(UnverifiedNoteError):
        verify_checkpoint(data, [Ed25519Signer.generate("log.sealpact.test/evidence").verifier()])


def test_signed_note_that_is_not_a_checkpoint() -> None:
    log = _log()
    data = sign_note("hello\nworld\n", [log]).format()
    with pytest.raises(MalformedCheckpointError):
        verify_checkpoint(data, [log.verifier()])


# --- cosignatures ----------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _witness(name: str, seed: int) -> CosignatureV1Signer:
    return CosignatureV1Signer(
        name, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32), FrozenClock(NOW)
    )


def test_cosignature_message_matches_the_spec_example() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    assert cosignature_v1_message(text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_spec_example_cosignature_layout() -> None:
    # The spec's example witness line: key ID, then the big-endian u64 timestamp of its example message.
    line = "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"  # noqa: E501
    note = parse_note(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" + line
    )
    sig = note.signatures[0]
    assert len(sig.signature) == 72
    assert int.from_bytes(sig.signature[:8], "big") == 1679315147


def test_cosign_and_verify_quorum() -> None:
    log = _log()
    w1, w2, w3 = _witness("w1.example", 2), _witness("w2.example", 3), _witness("w3.example", 4)
    signed = Checkpoint("log.sealpact.test/evidence", 7, ROOT).sign([log])
    cosigned = cosign(cosign(signed, [w1]), [w2]).format()
    verified = verify_checkpoint(cosigned, [log.verifier()])
    # Cosignatures are unknown to the log verifier and ignored there.
    assert len(verified.note.unverified) == 2
    cosigs = verify_cosignatures(verified, [w1.verifier(), w2.verifier(), w3.verifier()], quorum=2, now=NOW)
    assert sorted(c.name for c in cosigs) == ["w1.example", "w2.example"]
    assert all(c.time == NOW for c in cosigs)
    with pytest.raises(CosignatureError):
        verify_cosignatures(verified, [w1.verifier(), w2.verifier(), w3.verifier()], quorum=3)


def test_cosignature_key_id_rule_and_vkey() -> None:
    w = _witness("w1.example", 2)
    v = w.verifier()
    assert v.key_id == key_id("w1.example", 0x04, v.public_key)
    # The same key as a plain Ed25519 note key has a different ID (domain separation by type byte).
    assert v.key_id != key_id("w1.example", SIG_TYPE_ED25519, v.public_key)
    assert CosignatureV1Verifier.from_vkey(v.vkey()).key_id == v.key_id
    with pytest.raises(KeyFormatError):
        CosignatureV1Verifier.from_vkey(_log().verifier().vkey())
    with pytest.raises(KeyFormatError):
        Ed25519Verifier.from_vkey(v.vkey())


def test_cosignature_signed_message_is_independent_checkable() -> None:
    private = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
    w = CosignatureV1Signer("w.example", private, FrozenClock(NOW))
    text = Checkpoint("o", 3, ROOT).text()
    blob = w.sign(text.encode())
    ts = int(NOW.timestamp())
    assert blob[:8] == ts.to_bytes(8, "big")
    private.public_key().verify(blob[8:], f"cosignature/v1\ntime {ts}\n{text}".encode())


def test_tampered_or_future_cosignatures_fail() -> None:
    log = _log()
    w = _witness("w1.example", 2)
    signed = Checkpoint("log.sealpact.test/evidence", 7, ROOT).sign([log])
    good = cosign(signed, [w])
    sig = good.signatures[-1]
    # Change the timestamp: the signature no longer covers it.
    bad_ts = (int.from_bytes(sig.signature[:8], "big") + 1).to_bytes(8, "big") + sig.signature[8:]
    bad = type(good)(good.text, (good.signatures[0], type(sig)(sig.name, sig.key_id, bad_ts)))
    verified = verify_checkpoint(bad.format(), [log.verifier()])
    with pytest.raises(CosignatureError):
        verify_cosignatures(verified, [w.verifier()], quorum=1)
    # A timestamp beyond 2^63-1 is refused outright.
    huge = (1 << 63).to_bytes(8, "big") + sig.signature[8:]
    bad = type(good)(good.text, (good.signatures[0], type(sig)(sig.name, sig.key_id, huge)))
    with pytest.raises(CosignatureError):
        verify_cosignatures(verify_checkpoint(bad.format(), [log.verifier()]), [w.verifier()], quorum=1)
    # Future timestamps are refused when the caller passes the current time.
    later = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))
    future = CosignatureV1Signer("w1.example", Ed25519PrivateKey.from_private_bytes(b"\x02" * 32), later)
    verified = verify_checkpoint(cosign(signed, [future]).format(), [log.verifier()])
    with pytest.raises(CosignatureError):
        verify_cosignatures(verified, [w.verifier()], quorum=1, now=NOW)
    assert verify_cosignatures(verified, [w.verifier()], quorum=1)[0].timestamp > NOW.timestamp()


def test_cosigner_refuses_non_checkpoints() -> None:
    with pytest.raises(MalformedCheckpointError):
        _witness("w", 1).sign(b"not a checkpoint\n")


def test_cosignature_verifier_rejects_wrong_length() -> None:
    v = _witness("w", 1).verifier()
    with pytest.raises(NoteSignatureError):
        v.verify(Checkpoint("o", 1, ROOT).text().encode(), b"\x00" * 71)


# --- the real Rekor v2 (staging) vector ------------------------------------------------------------------


def _rekor() -> tuple[dict[str, Any], Ed25519Verifier]:
    bundle = json.loads((REKOR / "staging-rekor-v2.txt.sigstore.json").read_text())
    trusted = json.loads((REKOR / "staging-trusted-root.json").read_text())
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    (tlog,) = [t for t in trusted["tlogs"] if t["publicKey"]["keyDetails"] == "PKIX_ED25519"]
    spki = base64.b64decode(tlog["publicKey"]["rawBytes"])
    public = load_der_public_key(spki)
    assert isinstance(public, Ed25519PublicKey)
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert raw == spki[-32:]
    # The key name is the log's origin (the base URL without scheme).
    name = tlog["baseUrl"].removeprefix("https://")
    verifier = Ed25519Verifier(name, raw)
    assert verifier.key_id == 0xF30D5A99
    assert base64.b64decode(tlog["logId"]["keyId"])[:4] == bytes.fromhex("f30d5a99")
    return entry, verifier


def test_rekor_checkpoint_and_inclusion_proof_verify() -> None:
    entry, verifier = _rekor()
    proof = entry["inclusionProof"]
    envelope = proof["checkpoint"]["envelope"]
    verified = verify_checkpoint(envelope, [verifier], origin="log2025-alpha1.rekor.sigstage.dev")
    assert verified.size == int(proof["treeSize"]) == 646
    assert verified.root_hash == base64.b64decode(proof["rootHash"])
    leaf = leaf_hash(base64.b64decode(entry["canonicalizedBody"]))
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_inclusion(leaf, int(proof["logIndex"]), verified.size, hashes, verified.root_hash)


def _flip_each_byte(data: bytes) -> list[bytes]:
    return [data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :] for i in range(len(data))]


def test_rekor_checkpoint_any_flipped_byte_fails() -> None:
    entry, verifier = _rekor()
    envelope = entry["inclusionProof"]["checkpoint"]["envelope"].encode()
    for mutated in _flip_each_byte(envelope):
        with pytest.raises(EvidenceError):
            verify_checkpoint(mutated, [verifier], origin="log2025-alpha1.rekor.sigstage.dev")


def test_rekor_inclusion_any_flipped_byte_fails() -> None:
    entry, verifier = _rekor()
    proof = entry["inclusionProof"]
    verified = verify_checkpoint(proof["checkpoint"]["envelope"], [verifier])
    body = base64.b64decode(entry["canonicalizedBody"])
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    index, size, root = int(proof["logIndex"]), verified.size, verified.root_hash
    for mutated_body in _flip_each_byte(body):
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaf_hash(mutated_body), index, size, hashes, root)
    for i, h in enumerate(hashes):
        for mutated_hash in _flip_each_byte(h):
            bad = [*hashes[:i], mutated_hash, *hashes[i + 1 :]]
            with pytest.raises(InclusionProofError):
                verify_inclusion(leaf_hash(body), index, size, bad, root)
    for mutated_root in _flip_each_byte(root):
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaf_hash(body), index, size, hashes, mutated_root)
    for wrong_index in (index - 1, index + 1, 0):
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaf_hash(body), wrong_index, size, hashes, root)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parsing_arbitrary_text_fails_only_with_malformed_checkpoint(text: str) -> None:
    try:
        cp = Checkpoint.parse(text)
    except MalformedCheckpointError:
        return
    assert cp.text() == text
