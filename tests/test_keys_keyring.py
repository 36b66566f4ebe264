"""The keyring key provider: wrong or missing secrets, tampering, and rotations seen across processes."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from sealpact.storage.keys import KeyUnavailable, UnwrapFailed
from sealpact.storage.keys.keyring import KeyringKeyProvider, read_master_secret

SECRET = b"keyring-test-secret-" + b"y" * 20


@pytest.fixture
def path(tmp_path: Path) -> Path:
    KeyringKeyProvider.create(tmp_path / "keyring.json", SECRET)
    return tmp_path / "keyring.json"


def test_round_trip_and_context_binding(path: Path) -> None:
    keys = KeyringKeyProvider(path, SECRET)
    data_key = secrets.token_bytes(32)
    wrapped = keys.wrap(data_key, context=b"blob-a")
    assert keys.unwrap(wrapped, context=b"blob-a") == data_key
    with pytest.raises(UnwrapFailed):
        keys.unwrap(wrapped, context=b"blob-b")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert data_key.hex() not in path.read_text()


def test_wrong_missing_master_secret_and_missing_keyring(path: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyUnavailable, match="does not open this keyring"):
        KeyringKeyProvider(path, b"not the secret")
    with pytest.raises(KeyUnavailable, match="No master secret"):
        KeyringKeyProvider(path, b"")
    with pytest.raises(KeyUnavailable, match="Cannot read the master secret file"):
        read_master_secret(None, tmp_path / "absent")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(KeyUnavailable, match="No master secret"):
        read_master_secret(None, tmp_path / "empty")
    with pytest.raises(KeyUnavailable, match="No keyring"):
        KeyringKeyProvider(tmp_path / "none.json", SECRET)
    with pytest.raises(KeyUnavailable, match="refusing to overwrite"):
        KeyringKeyProvider.create(path, SECRET)


def test_edited_keyring_is_refused(path: Path) -> None:
    keys = KeyringKeyProvider(path, SECRET)
    old = keys.active_kek_id()
    keys.rotate()
    doc = json.loads(path.read_text())
    doc["active"] = old  # try to re-activate the old KEK without the master secret
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyUnavailable, match="altered"):
        KeyringKeyProvider(path, SECRET)


def test_rotation_in_another_process_is_picked_up(path: Path) -> None:
    server = KeyringKeyProvider(path, SECRET)  # e.g. the web process
    before = server.wrap(b"k" * 32, context=b"c")
    cli = KeyringKeyProvider(path, SECRET)  # `sealpact keys rotate`, elsewhere
    new = cli.rotate()
    assert server.active_kek_id() == new
    after = server.wrap(b"k" * 32, context=b"c")
    assert after.kek_id == new
    assert cli.unwrap(after, context=b"c") == server.unwrap(before, context=b"c") == b"k" * 32
    with pytest.raises(UnwrapFailed, match="unknown key-encryption key"):
        server.unwrap(type(before)("kek-unknown", before.ciphertext), context=b"c")
