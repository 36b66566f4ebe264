"""An independent client fetches the log over HTTP (C2SP tlog-tiles) and verifies everything itself."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from sealpact.cli.core import init_steps
from sealpact.cli.evidence import init_evidence
from sealpact.cli.main import cli
from sealpact.config import Settings
from sealpact.evidence.checkpoint import verify_checkpoint
from sealpact.evidence.errors import CheckpointMismatchError, MalformedTileError
from sealpact.evidence.merkle import (
    NodeAddress,
    leaf_hash,
    root_at,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from sealpact.evidence.note import Ed25519Signer, Ed25519Verifier
from sealpact.evidence.proofs import verify_tlog_proof
from sealpact.evidence.service import LOG_KEY_NAME
from sealpact.evidence.tiles import TileHashReader, decode_entry_bundle, tiles_for_size
from sealpact.runtime import Runtime
from sealpact.web.app import create_app
from tests.conftest import MASTER_SECRET
from tests.test_evidence_log_support import HttpTiles, evidence_runtime, stage


def _verify_tree(client: TestClient, tiles: HttpTiles, verifier: Ed25519Verifier, origin: str) -> int:
    checkpoint = verify_checkpoint(client.get("/log/checkpoint").content, [verifier], origin=origin)
    reader = TileHashReader(checkpoint.size, tiles)
    # Every leaf hash from the level-0 tiles folded to the root, and the root from the upper tiles.
    leaves = reader.get_nodes([NodeAddress(0, i) for i in range(checkpoint.size)])
    root = root_at(checkpoint.size, reader)
    if root_from_leaf_hashes(leaves) != checkpoint.root_hash or root != checkpoint.root_hash:
        raise CheckpointMismatchError("tiles do not lead to the checkpoint's root")
    return checkpoint.size


def test_independent_client_verifies_tiles_entries_and_proofs(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(
        tmp_path / "a", database_url, evidence_sequencer="off", evidence_batch_size=300
    ) as rt:
        staged = stage(rt, 700, per_tx=100)
        rt.evidence.integrate_batch()  # size 300
        rt.evidence.run_until_idle()  # size 700
        client = TestClient(create_app(rt))
        # The verifier key comes from /log/vkey (and equals `sealpact evidence vkey`).
        vkey = client.get("/log/vkey").text.strip()
        verifier = Ed25519Verifier.from_vkey(vkey)
        assert verifier.name == rt.evidence.origin == "testserver/log"
        tiles = HttpTiles(client)
        assert _verify_tree(client, tiles, verifier, rt.evidence.origin) == 700
        # Entry bundles hash to the level-0 tiles.
        for tile in (t for t in tiles_for_size(700) if t.level == 0):
            bundle = client.get(f"/log/{tile.path().replace('tile/0/', 'tile/entries/')}").content
            leaves = [leaf_hash(e) for e in decode_entry_bundle(bundle, tile.width)]
            assert b"".join(leaves) == tiles.read_tiles([tile])[0]
        full = client.get("/log/tile/0/000")
        assert full.headers["cache-control"].endswith("immutable")
        # A truncated tile and a tile from elsewhere are caught by the client.
        tiles.overrides["tile/0/001"] = client.get("/log/tile/0/001").content[:-1]
        with pytest.raises(MalformedTileError, match="8191 bytes"):
            _verify_tree(client, tiles, verifier, rt.evidence.origin)
        tiles.overrides["tile/0/001"] = client.get("/log/tile/0/000").content
        with pytest.raises(CheckpointMismatchError):
            _verify_tree(client, tiles, verifier, rt.evidence.origin)
        # Proofs over the API.
        body = client.get("/log/proof/inclusion", params={"index": 299, "size": 700}).json()
        root = verify_checkpoint(client.get("/log/checkpoint").content, [verifier]).root_hash
        proof = [base64.b64decode(h) for h in body["proof"]]
        entry = decode_entry_bundle(client.get("/log/tile/entries/001").content)[299 - 256]
        verify_inclusion(leaf_hash(entry), 299, 700, proof, root)
        old_root = rt.evidence.stored_checkpoints()[1][1]
        body = client.get("/log/proof/consistency", params={"old": 300, "new": 700}).json()
        verify_consistency(300, 700, [base64.b64decode(h) for h in body["proof"]], old_root, root)
        text = client.get(f"/log/entries/{staged[5].entry_id}/proof").content
        fifth = decode_entry_bundle(client.get("/log/tile/entries/000").content)[5]
        verified = verify_tlog_proof(text, log_verifiers=[verifier], origin=rt.evidence.origin, entry=fifth)
        assert verified.index == 5
        # Bad input: clear errors with stable codes.
        too_big = client.get("/log/proof/inclusion", params={"index": 1, "size": 701})
        assert too_big.status_code == 422 and too_big.json()["error"]["code"] == "evidence_tree_range"
        assert client.get("/log/tile/0/x000/001").json()["error"]["code"] == "evidence_tile_malformed"
        assert client.get("/log/tile/0/1").status_code == 400
        assert client.get("/log/tile/0/003").status_code == 404  # beyond the tree
        assert client.get("/log/tile/0/002.p/188").status_code == 200
        assert client.get("/log/tile/0/002.p/189").status_code == 404
        assert client.get("/log/entries/nope/proof").status_code == 404


def test_init_step_and_vkey_command(tmp_path: Path) -> None:
    assert init_evidence in init_steps()
    env = {
        "SEALPACT_DATA_DIR": str(tmp_path / "var"),
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
        "SEALPACT_PUBLIC_URL": "https://sign.example.cn/",
        "SEALPACT_EVIDENCE_SEQUENCER": "off",
    }
    runner = CliRunner()
    first = runner.invoke(cli, ["init"], env=env)
    assert first.exit_code == 0, first.output
    assert "evidence log created: sign.example.cn/log+" in first.output
    again = runner.invoke(cli, ["init"], env=env)
    assert again.exit_code == 0 and "evidence log present" in again.output
    vkey = runner.invoke(cli, ["evidence", "vkey"], env=env)
    assert vkey.exit_code == 0 and Ed25519Verifier.from_vkey(vkey.output).name == "sign.example.cn/log"
    # The private key is nowhere on disk in plaintext: only wrapped by the KEK, in the data_keys table.
    settings = Settings(
        data_dir=tmp_path / "var", master_secret=MASTER_SECRET, public_url="https://sign.example.cn"
    )
    runtime = Runtime(settings)
    try:
        seed = runtime.data_keys.get(LOG_KEY_NAME, 1)
        assert Ed25519Signer.from_seed("sign.example.cn/log", seed).verifier().vkey() == vkey.output.strip()
    finally:
        runtime.close()
    for path in (tmp_path / "var").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert seed not in data and base64.b64encode(seed) not in data, path
    checkpoint = runner.invoke(cli, ["evidence", "checkpoint"], env=env)
    assert checkpoint.output.startswith(
        "sign.example.cn/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    )
