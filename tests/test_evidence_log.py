"""The evidence log service: staging with the change, batches, stored tiles, proofs, no rewrites."""

from __future__ import annotations

import base64
import hashlib
import json
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from sealpact.db import transaction
from sealpact.errors import NotFound
from sealpact.evidence.checkpoint import Checkpoint, verify_checkpoint
from sealpact.evidence.entries import MalformedEntryError, parse_entry
from sealpact.evidence.errors import InclusionProofError, TreeRangeError, UnverifiedNoteError
from sealpact.evidence.merkle import leaf_hash, verify_consistency, verify_inclusion
from sealpact.evidence.models import LogEntry, StoredTile
from sealpact.evidence.note import Ed25519Signer
from sealpact.evidence.proofs import verify_tlog_proof
from sealpact.evidence.service import (
    EvidenceRecord,
    HistoryRewriteError,
    LogKeyMismatch,
    RecordIntegrityError,
    origin_for,
)
from sealpact.evidence.tiles import (
    TILE_WIDTH,
    EntryBundleRef,
    Tile,
    build_tiles,
    decode_entry_bundle,
    tiles_for_size,
)
from tests.test_evidence_log_support import T0, evidence_runtime, sql, stage


def test_origin_from_public_url() -> None:
    assert origin_for("https://sign.example.cn") == "sign.example.cn/log"
    assert origin_for("http://127.0.0.1:8000/sealpact") == "127.0.0.1:8000/sealpact/log"


def test_record_is_staged_with_the_change_and_included(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(tmp_path / "a", database_url, evidence_batch_ms=5) as runtime:
        evidence = runtime.evidence
        # A record whose transaction rolls back leaves nothing behind.
        with pytest.raises(RuntimeError), transaction(runtime.sessions) as session:
            evidence.record(session, EvidenceRecord("contract.voided", "c-9", {"why": "x"}, T0))
            raise RuntimeError("the state change failed")
        [staged] = stage(runtime, 1, subject="contract-42")
        inclusion = evidence.wait_for_inclusion(staged.entry_id, timeout=10)
        assert (inclusion.leaf_index, inclusion.tree_size) == (0, 1)
        # The entry is hash-only: no contract id, no name, no IP address.
        entry = parse_entry(inclusion.entry)
        assert entry.kind == "record" and entry.event_type == "contract.signed"
        assert b"contract-42" not in inclusion.entry and b"Zhang" not in inclusion.entry
        assert entry.subject == evidence.subject_hash("contract-42")
        # A C2SP tlog-proof an offline verifier checks with the vkey alone.
        verified = verify_tlog_proof(
            inclusion.tlog_proof(),
            log_verifiers=[evidence.verifier()],
            origin=evidence.origin,
            entry=inclusion.entry,
        )
        assert verified.index == 0
        # The full record decrypts and matches the hash in the log.
        assert staged.record_id is not None
        opened = evidence.open_record(staged.record_id)
        assert opened.body == {"signer": "Zhang San", "n": 0, "ip": "192.0.2.7"}
        assert (
            entry.record_sha256
            == hashlib.sha256(
                EvidenceRecord("contract.signed", "contract-42", opened.body, T0).canonical()
            ).digest()
        )
        assert [r[0] for r in evidence.records_for("contract-42")] == [staged.record_id]
        assert evidence.records_for("c-9") == []
        # The stored record is ciphertext only.
        with runtime.engine.connect() as connection:
            raw = connection.exec_driver_sql("SELECT record_enc FROM evidence_records").scalar_one()
        assert "Zhang" not in raw and raw.startswith("sf1.")


def test_batches_tiles_and_history(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(
        tmp_path / "a", database_url, evidence_sequencer="off", evidence_batch_size=256
    ) as rt:
        evidence = rt.evidence
        staged = stage(rt, 600, per_tx=50)
        assert evidence.pending_count() == 600 and evidence.size() == 0
        sizes = [evidence.integrate_batch().new_size for _ in range(4)]
        assert sizes == [256, 512, 600, 600]  # the last call finds nothing pending
        # Every stored tile equals the one the pure core computes from all leaves (tlog-tiles).
        with transaction(rt.sessions) as session:
            rows = session.execute(
                select(LogEntry.leaf_index, LogEntry.entry).order_by(LogEntry.leaf_index)
            ).all()
        assert [r[0] for r in rows] == list(range(600))
        entries = [bytes(r[1]) for r in rows]
        expected = build_tiles([leaf_hash(e) for e in entries])
        assert sorted(expected) == tiles_for_size(600)
        for tile, body in expected.items():
            assert evidence.read_tile(tile) == body, tile.path()
        # Partial tiles of the earlier sizes are still served (as prefixes of the wider ones).
        assert evidence.read_tile(Tile(1, 0, 2)) == expected[Tile(1, 0, 2)]
        early = build_tiles([leaf_hash(e) for e in entries[:300]])
        assert evidence.read_tile(Tile(0, 1, 44)) == early[Tile(0, 1, 44)]
        # Entry bundles hold the entries in index order.
        assert decode_entry_bundle(evidence.read_entry_bundle(EntryBundleRef(0)), TILE_WIDTH) == entries[:256]
        assert decode_entry_bundle(evidence.read_entry_bundle(EntryBundleRef(2, 88)), 88) == entries[512:]
        assert decode_entry_bundle(evidence.read_entry_bundle(EntryBundleRef(2, 10)), 10) == entries[512:522]
        with pytest.raises(NotFound):
            evidence.read_tile(Tile(0, 3))
        # Each signed checkpoint is consistent with every earlier one (RFC 9162 §2.1.4).
        history = evidence.stored_checkpoints()
        assert [size for size, _ in history] == [0, 256, 512, 600]
        for (s1, r1), (s2, r2) in pairwise(history[1:]):
            verify_consistency(s1, s2, evidence.consistency_proof(s1, s2), r1, r2)
        # Inclusion proofs, for the latest and for an older tree size.
        last = history[-1][1]
        for index in (0, 255, 256, 511, 599):
            verify_inclusion(
                leaf_hash(entries[index]), index, 600, evidence.inclusion_proof(index, 600), last
            )
        verify_inclusion(leaf_hash(entries[7]), 7, 256, evidence.inclusion_proof(7, 256), history[1][1])
        # A proof for another tree size does not verify against this root.
        with pytest.raises(InclusionProofError):
            verify_inclusion(leaf_hash(entries[7]), 7, 600, evidence.inclusion_proof(7, 512), last)
        with pytest.raises(TreeRangeError, match="larger than the log's current size 600"):
            evidence.inclusion_proof(3, 601)
        with pytest.raises(TreeRangeError):
            evidence.consistency_proof(512, 256)
        # wait_for_inclusion on an integrated entry answers at once.
        assert rt.evidence.inclusion(staged[599].entry_id).leaf_index == 599


def test_the_log_never_rewrites_history(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(tmp_path / "a", database_url, evidence_sequencer="off") as rt:
        evidence = rt.evidence
        stage(rt, 300, per_tx=100)
        evidence.run_until_idle()
        # The database refuses to rewrite an integrated entry, delete one, or forge an index.
        with pytest.raises(DBAPIError, match="never rewritten"):
            sql(rt, "UPDATE evidence_entries SET entry = :e WHERE leaf_index = 3", e=b'{"v":1}')
        with pytest.raises(DBAPIError, match="never rewritten"):
            sql(rt, "UPDATE evidence_entries SET leaf_index = 1000 WHERE leaf_index = 4")
        with pytest.raises(DBAPIError, match="append-only"):
            sql(rt, "DELETE FROM evidence_entries WHERE leaf_index = 5")
        with pytest.raises(DBAPIError, match="assigned by the sequencer"):
            sql(
                rt,
                "INSERT INTO evidence_entries (id, leaf_index, entry, leaf_hash, staged_at) "
                "VALUES ('forged', 300, :e, :h, :t)",
                e=b"x",
                h=leaf_hash(b"x"),
                t=T0,
            )
        with pytest.raises(DBAPIError, match="never rewritten"):
            sql(rt, "UPDATE evidence_tiles SET data = :d WHERE level = 0 AND tile_index = 0", d=b"\0" * 8192)
        with pytest.raises(DBAPIError, match=r"full tile is never deleted|never rewritten"):
            sql(rt, "DELETE FROM evidence_tiles WHERE level = 0 AND tile_index = 0")
        with pytest.raises(DBAPIError, match="append-only"):
            sql(rt, "UPDATE evidence_checkpoints SET note = 'x' WHERE size = 300")
        with pytest.raises(DBAPIError, match="append-only"):
            sql(rt, "DELETE FROM evidence_records")
        # A second checkpoint of an existing size cannot be stored.
        with pytest.raises(IntegrityError):
            sql(
                rt,
                "INSERT INTO evidence_checkpoints (size, root_hash, note, signed_at) "
                "VALUES (300, :r, 'x', :t)",
                r=b"\1" * 32,
                t=T0,
            )
        # Through the service: a cosigned note with another text is refused...
        other = Checkpoint(evidence.origin, 300, b"\2" * 32).sign([evidence._load_signer()])
        with pytest.raises(HistoryRewriteError, match="differs"):
            evidence.add_cosignatures(300, other)
        # ...and a state row pointing at another root stops the sequencer before it signs anything.
        sql(rt, "UPDATE evidence_log_state SET root_hash = :r", r=b"\3" * 32)
        stage(rt, 1)
        with pytest.raises(HistoryRewriteError, match="do not match the last signed checkpoint"):
            evidence.integrate_batch()
        assert [s for s, _ in evidence.stored_checkpoints()] == [0, 256, 300]


def test_tiles_survive_partial_replacement_and_a_wrong_key_fails(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(
        tmp_path / "a", database_url, evidence_sequencer="off", evidence_batch_size=7
    ) as rt:
        stage(rt, 20, per_tx=20)
        rt.evidence.run_until_idle()
        with transaction(rt.sessions) as session:
            widths = session.scalars(select(StoredTile.width).where(StoredTile.level == 0)).all()
        assert widths == [20]  # the narrower partial tiles were replaced by the wider one
        note = rt.evidence.checkpoint()
        assert verify_checkpoint(note, [rt.evidence.verifier()], origin=rt.evidence.origin).size == 20
        impostor = Ed25519Signer.generate(rt.evidence.origin).verifier()
        with pytest.raises(UnverifiedNoteError):
            verify_checkpoint(note, [impostor])
        url = rt.settings.database_url
    # The same database under another public URL (hence another origin) is refused, not re-keyed.
    elsewhere = "https://elsewhere.example"
    with (
        pytest.raises(LogKeyMismatch, match="origin"),
        evidence_runtime(tmp_path / "a", url, public_url=elsewhere),
    ):
        pass


def test_tampered_record_and_malformed_input(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(tmp_path / "a", database_url, evidence_sequencer="off") as rt:
        a, b = stage(rt, 2, per_tx=2)
        assert a.record_id and b.record_id
        with pytest.raises(MalformedEntryError), transaction(rt.sessions) as session:
            rt.evidence.record(session, EvidenceRecord("Not A Type", "c", {}, T0))
        with pytest.raises(MalformedEntryError):
            parse_entry(json.dumps({"v": 1, "kind": "record"}).encode())
        # Swap the encrypted bodies of two records (an attacker with SQL access and no triggers).
        if rt.engine.dialect.name == "sqlite":
            sql(rt, "DROP TRIGGER evidence_records_no_update")
        else:
            sql(rt, "DROP TRIGGER evidence_records_no_rewrite ON evidence_records")
        sql(
            rt,
            "UPDATE evidence_records SET record_enc = "
            "(SELECT record_enc FROM evidence_records WHERE id = :b) WHERE id = :a",
            a=a.record_id,
            b=b.record_id,
        )
        with pytest.raises(RecordIntegrityError, match=a.record_id):
            rt.evidence.open_record(a.record_id)


def test_checkpoint_base64_root_matches_state(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(tmp_path / "a", database_url, evidence_sequencer="off") as rt:
        stage(rt, 3, per_tx=3)
        rt.evidence.run_until_idle()
        text = rt.evidence.checkpoint().decode()
        assert text.split("\n")[2] == rt.evidence.root_hash_b64()
        assert base64.b64decode(rt.evidence.root_hash_b64()) == rt.evidence.stored_checkpoints()[-1][1]


def test_two_sequencers_on_one_database_take_turns(tmp_path: Path, database_url: str) -> None:
    """Two processes' sequencers (two runtimes here) never hand out an index twice (the log lock)."""
    import threading

    with (
        evidence_runtime(
            tmp_path / "a", database_url, evidence_sequencer="off", evidence_batch_size=50
        ) as one,
        evidence_runtime(
            tmp_path / "a", database_url, evidence_sequencer="off", evidence_batch_size=50
        ) as two,
    ):
        stage(one, 600, per_tx=100)
        errors: list[BaseException] = []

        def run(rt: object) -> None:
            try:
                rt.evidence.run_until_idle()  # type: ignore[attr-defined]
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(rt,)) for rt in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert one.evidence.size() == two.evidence.size() == 600
        with transaction(one.sessions) as session:
            indexes = session.scalars(select(LogEntry.leaf_index).order_by(LogEntry.leaf_index)).all()
        assert indexes == list(range(600))
        history = two.evidence.stored_checkpoints()
        for (s1, r1), (s2, r2) in pairwise(history[1:]):
            verify_consistency(s1, s2, one.evidence.consistency_proof(s1, s2), r1, r2)


def test_in_process_sequencer_initialises_a_log_that_init_never_set_up(
    tmp_path: Path, database_url: str
) -> None:
    from sealpact.db import upgrade
    from sealpact.runtime import Runtime
    from sealpact.storage.keys.keyring import KeyringKeyProvider
    from tests.conftest import MASTER_SECRET, make_settings

    settings = make_settings(tmp_path / "d", database_url=database_url, evidence_batch_ms=5)
    settings.data_dir.mkdir()
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    runtime = Runtime(settings)
    try:
        upgrade(runtime.engine)
        [staged] = stage(runtime, 1)
        assert runtime.evidence.wait_for_inclusion(staged.entry_id, timeout=20).tree_size == 1
    finally:
        runtime.close()
