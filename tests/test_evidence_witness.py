"""C2SP tlog-witness between two sealpact instances: B (served on loopback) witnesses A's log."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asn1crypto import cms

from sealpact.evidence.anchors import anchor_checkpoint, anchors_for
from sealpact.evidence.checkpoint import (
    Checkpoint,
    CosignatureV1Verifier,
    verify_checkpoint,
    verify_cosignatures,
)
from sealpact.evidence.merkle import consistency_proof_length
from sealpact.evidence.note import Ed25519Signer, parse_note
from sealpact.evidence.witness import (
    AddCheckpointRequest,
    CosignatureCollector,
    HttpWitnessClient,
    WitnessBadRequest,
    WitnessConflict,
    WitnessForbidden,
    WitnessInconsistent,
    WitnessUnknownLog,
    parse_witness_setting,
)
from sealpact.runtime import Runtime
from sealpact.web.app import create_app
from tests.live_server import LiveServer, free_port
from tests.test_evidence_log_support import evidence_runtime, stage


@dataclass
class Pair:
    log: Runtime  # A: the log
    witness: Runtime  # B: the witness, served at url
    url: str
    witness_vkey: str


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[Pair]:
    """A's log on SQLite; B's witness state on SQLite and on PostgreSQL (``database_url``)."""
    log_db = f"sqlite:///{tmp_path / 'a.db'}"
    with evidence_runtime(tmp_path / "a", log_db, evidence_sequencer="off") as first:
        log_vkey = first.evidence.vkey()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with evidence_runtime(
        tmp_path / "b",
        database_url,
        public_url=url,
        evidence_sequencer="off",
        evidence_witnessed_logs=[log_vkey],
    ) as witness:
        witness_vkey = witness.evidence_witness.vkey()
        with (
            LiveServer(create_app(witness), port),
            evidence_runtime(
                tmp_path / "a",
                log_db,
                evidence_sequencer="off",
                evidence_witnesses=[f"{witness_vkey} {url}/witness"],
            ) as log,
        ):
            yield Pair(log, witness, url, witness_vkey)


def _cosigned(pair: Pair) -> int:
    note = pair.log.evidence.checkpoint()
    checkpoint = verify_checkpoint(note, [pair.log.evidence.verifier()], origin=pair.log.evidence.origin)
    cosigner = CosignatureV1Verifier.from_vkey(pair.witness_vkey)
    [cosignature] = verify_cosignatures(checkpoint, [cosigner], quorum=1)
    assert cosignature.name == "127.0.0.1:" + pair.url.rsplit(":", 1)[1] + "/witness"
    return checkpoint.size


def test_log_collects_cosignatures_from_another_instance(pair: Pair) -> None:
    evidence = pair.log.evidence
    stage(pair.log, 10, per_tx=10)
    evidence.integrate_batch()  # the after-checkpoint hook asks B over HTTP
    assert _cosigned(pair) == 10
    assert pair.witness.evidence_witness.latest(evidence.origin) == (10, evidence.stored_checkpoints()[-1][1])
    stage(pair.log, 15, per_tx=15)
    evidence.integrate_batch()  # B checks the consistency proof 10 -> 25
    assert _cosigned(pair) == 25
    # A log that forgot what B has seen (a restart) learns it from the 409 and proves from there.
    stage(pair.log, 5, per_tx=5)
    fresh = CosignatureCollector(
        evidence, [parse_witness_setting(pair.log.settings.evidence_witnesses[0], 5.0)]
    )
    evidence.integrate_batch()
    assert fresh.collect(30) == ["127.0.0.1:" + pair.url.rsplit(":", 1)[1] + "/witness"]
    assert _cosigned(pair) == 30
    # The witness's vkey is served too.
    assert httpx.get(pair.url + "/witness/vkey").text.strip() == pair.witness_vkey


def _request(note: bytes, old: int, proof: tuple[bytes, ...] = ()) -> bytes:
    return AddCheckpointRequest(old, proof, note).encode()


def test_witness_refusals(pair: Pair) -> None:
    evidence, witness = pair.log.evidence, pair.witness.evidence_witness
    stage(pair.log, 20, per_tx=20)
    evidence.integrate_batch()
    assert _cosigned(pair) == 20
    good = evidence.checkpoint_at(20)
    signer = evidence._load_signer()  # the log's real key: a misbehaving log
    root20 = evidence.stored_checkpoints()[-1][1]

    # 404: a log this witness does not know.
    stranger = Ed25519Signer.generate("other.example/log")
    unknown = Checkpoint("other.example/log", 1, b"\1" * 32).sign([stranger]).format()
    with pytest.raises(WitnessUnknownLog):
        witness.add_checkpoint(_request(unknown, 0))
    # 403: the right origin, a wrong key.
    impostor = Ed25519Signer.generate(evidence.origin)
    forged = Checkpoint(evidence.origin, 20, root20).sign([impostor]).format()
    with pytest.raises(WitnessForbidden):
        witness.add_checkpoint(_request(forged, 20))
    # 400: old size above the checkpoint size; malformed bodies.
    with pytest.raises(WitnessBadRequest):
        witness.add_checkpoint(_request(good, 21))
    with pytest.raises(WitnessBadRequest):
        witness.add_checkpoint(b"old 020\n\n" + good)
    with pytest.raises(WitnessBadRequest):
        witness.add_checkpoint(b"old 0\nnot-base64!\n\n" + good)
    # 409: the old size is not the one the witness cosigned last; it tells which.
    with pytest.raises(WitnessConflict) as conflict:
        witness.add_checkpoint(_request(good, 5))
    assert conflict.value.known_size == 20
    # 409: a split view, two checkpoints of size 20 with different roots.
    split = Checkpoint(evidence.origin, 20, hashlib.sha256(b"other history").digest()).sign([signer]).format()
    with pytest.raises(WitnessConflict, match="split view"):
        witness.add_checkpoint(_request(split, 20))
    # 422: a bigger tree that does not extend the cosigned one.
    fork = Checkpoint(evidence.origin, 40, hashlib.sha256(b"fork").digest()).sign([signer]).format()
    proof = tuple(hashlib.sha256(bytes([i])).digest() for i in range(consistency_proof_length(20, 40)))
    with pytest.raises(WitnessInconsistent):
        witness.add_checkpoint(_request(fork, 20, proof))
    assert witness.latest(evidence.origin) == (20, root20)  # nothing moved
    stage(pair.log, 20, per_tx=20)
    evidence.run_until_idle()  # A really grows to 40 and B cosigns it
    assert witness.latest(evidence.origin) == (40, evidence.stored_checkpoints()[-1][1])
    # Over HTTP: the status codes and the 409 body of C2SP tlog-witness.
    client = HttpWitnessClient("w", pair.url + "/witness")
    response = httpx.post(pair.url + "/witness/add-checkpoint", content=_request(split, 20))
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("text/x.tlog.size") and response.text == "40\n"
    with pytest.raises(WitnessConflict) as conflict:
        client.add_checkpoint(AddCheckpointRequest(20, (), split))
    assert conflict.value.known_size == 40
    assert httpx.post(pair.url + "/witness/add-checkpoint", content=_request(unknown, 0)).status_code == 404
    assert httpx.post(pair.url + "/witness/add-checkpoint", content=_request(forged, 40)).status_code == 403
    assert httpx.post(pair.url + "/witness/add-checkpoint", content=_request(good, 41)).status_code == 400
    assert httpx.post(pair.url + "/witness/add-checkpoint", content=_request(fork, 40)).status_code == 409
    # A replay of the current checkpoint at the same size is cosigned again (same root).
    current = evidence.checkpoint_at(40)
    lines = client.add_checkpoint(AddCheckpointRequest(40, (), current))
    combined = parse_note(current + lines)
    verified = verify_checkpoint(combined, [evidence.verifier()], origin=evidence.origin)
    assert verify_cosignatures(verified, [CosignatureV1Verifier.from_vkey(pair.witness_vkey)], quorum=1)


def test_checkpoint_anchored_with_the_platform_tsa(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(
        tmp_path / "a", database_url, evidence_sequencer="off", evidence_anchor_tsa=True
    ) as rt:
        rt.pki.ensure_hierarchy()
        stage(rt, 3, per_tx=3)
        # The hook stamps the new checkpoint (3 records + the audit events of the CA set-up).
        size = rt.evidence.integrate_batch().new_size
        [anchor] = anchors_for(rt.evidence, size)
        note = rt.evidence.checkpoint_at(size)
        assert anchor.note_sha256 == hashlib.sha256(note).digest() and anchor.source == "builtin"
        tst = cms.ContentInfo.load(anchor.token)["content"]["encap_content_info"]["content"].parsed
        assert tst["message_imprint"]["hashed_message"].native == hashlib.sha256(note).digest()
        again = anchor_checkpoint(rt.evidence, rt.time_stamper, size)
        assert len(anchors_for(rt.evidence, size)) == 2 and again.size == size
        assert base64.b64encode(anchor.note_sha256)


def test_concurrent_first_contact_is_atomic(pair: Pair) -> None:
    """tlog-witness: the old-size check and the update are atomic; of two racing requests from size 0,
    one is cosigned and the other answered 409 with the size just recorded."""
    import threading

    evidence, witness = pair.log.evidence, pair.witness.evidence_witness
    evidence._after_checkpoint.clear()  # nobody has talked to the witness yet
    stage(pair.log, 5, per_tx=5)
    evidence.integrate_batch()
    note = evidence.checkpoint_at(5)
    outcomes: list[str] = []

    def submit() -> None:
        try:
            witness.add_checkpoint(_request(note, 0))
            outcomes.append("cosigned")
        except WitnessConflict as exc:
            outcomes.append(f"409 {exc.known_size}")

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409 5", "409 5", "409 5", "cosigned"]
