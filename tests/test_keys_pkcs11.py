"""The PKCS#11 key provider against a real SoftHSM2 token, alone and under BlobService / FieldCipher."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealpact.config import Settings
from sealpact.db import upgrade
from sealpact.runtime import Runtime
from sealpact.storage.keys import KeyUnavailable, UnwrapFailed, WrappedKey
from sealpact.storage.keys.factory import build_key_provider
from sealpact.storage.keys.pkcs11 import Pkcs11KeyProvider
from tests.conftest import make_settings
from tests.softhsm import SoftHSM, softhsm  # noqa: F401


@pytest.fixture
def provider(softhsm: SoftHSM) -> Pkcs11KeyProvider:  # noqa: F811
    return Pkcs11KeyProvider(softhsm.module, softhsm.token_label, softhsm.user_pin, create_if_missing=True)


def test_wrap_unwrap_round_trip_and_context_binding(provider: Pkcs11KeyProvider) -> None:
    key = secrets.token_bytes(32)
    wrapped = provider.wrap(key, context=b"blob-1")
    assert wrapped.kek_id == provider.active_kek_id()
    assert key not in wrapped.ciphertext
    assert provider.unwrap(WrappedKey.decode(wrapped.encode()), context=b"blob-1") == key
    with pytest.raises(UnwrapFailed):
        provider.unwrap(wrapped, context=b"blob-2")
    tampered = bytearray(wrapped.ciphertext)
    tampered[-1] ^= 1
    with pytest.raises(UnwrapFailed):
        provider.unwrap(WrappedKey(wrapped.kek_id, bytes(tampered)), context=b"blob-1")
    with pytest.raises(UnwrapFailed):
        provider.unwrap(WrappedKey(wrapped.kek_id, b"short"), context=b"blob-1")
    with pytest.raises(UnwrapFailed, match="unknown key-encryption key"):
        provider.unwrap(WrappedKey("p11-nope", wrapped.ciphertext), context=b"blob-1")
    provider.check()


def test_kek_is_generated_on_the_token_and_not_extractable(
    provider: Pkcs11KeyProvider,
    softhsm: SoftHSM,  # noqa: F811
) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    lib = pkcs11.lib(str(softhsm.module))
    # The provider's session is logged in; a new session in this process shares that login.
    with lib.get_token(token_label=softhsm.token_label).open() as session:
        kek = session.get_key(ObjectClass.SECRET_KEY, KeyType.AES, label=provider.active_kek_id())
        assert kek[Attribute.SENSITIVE] is True
        assert kek[Attribute.EXTRACTABLE] is False
        assert kek[Attribute.NEVER_EXTRACTABLE] is True
        assert kek[Attribute.LOCAL] is True  # generated on the token, never imported
        assert kek[Attribute.TOKEN] is True
        assert kek[Attribute.WRAP] is False
        with pytest.raises(pkcs11.PKCS11Error):
            kek[Attribute.VALUE]


def test_rotation_keeps_old_keks_for_unwrap(provider: Pkcs11KeyProvider, softhsm: SoftHSM) -> None:  # noqa: F811
    key = secrets.token_bytes(32)
    old = provider.wrap(key, context=b"ctx")
    new_id = provider.rotate()
    assert new_id != old.kek_id
    assert provider.active_kek_id() == new_id
    assert provider.wrap(key, context=b"ctx").kek_id == new_id
    assert provider.unwrap(old, context=b"ctx") == key
    # Another provider on the same token (as another process would) agrees on the active KEK.
    other = Pkcs11KeyProvider(softhsm.module, softhsm.token_label, softhsm.user_pin)
    assert other.active_kek_id() == new_id
    assert other.unwrap(old, context=b"ctx") == key
    third = other.rotate()
    assert provider.active_kek_id() == third  # read from the token, not a stale cache


def test_clear_errors(softhsm: SoftHSM, tmp_path: Path) -> None:  # noqa: F811
    # A token nobody in this process is logged in to (login state is per process and token).
    with pytest.raises(KeyUnavailable, match="rejected the PIN"):
        Pkcs11KeyProvider(softhsm.module, softhsm.spare_tokens[2], "0000")
    with pytest.raises(KeyUnavailable, match="No PKCS#11 token labelled"):
        Pkcs11KeyProvider(softhsm.module, "no-such-token", softhsm.user_pin)
    with pytest.raises(KeyUnavailable, match="does not exist"):
        Pkcs11KeyProvider(tmp_path / "missing.so", softhsm.token_label, softhsm.user_pin)
    with pytest.raises(KeyUnavailable, match="No PKCS#11 PIN"):
        Pkcs11KeyProvider(softhsm.module, softhsm.token_label, "")
    with pytest.raises(KeyUnavailable, match="holds no sealpact KEK"):
        Pkcs11KeyProvider(softhsm.module, softhsm.spare_tokens[0], softhsm.user_pin)
    settings = make_settings(tmp_path, key_provider="pkcs11", pkcs11_pin=softhsm.user_pin)
    with pytest.raises(KeyUnavailable, match="SEALPACT_PKCS11_MODULE"):
        build_key_provider(settings)


def test_a_kek_from_another_token_is_unknown(softhsm: SoftHSM) -> None:  # noqa: F811
    """The same data under another HSM (missing KEK) fails cleanly."""
    first = Pkcs11KeyProvider(softhsm.module, softhsm.token_label, softhsm.user_pin, create_if_missing=True)
    second = Pkcs11KeyProvider(
        softhsm.module, softhsm.spare_tokens[1], softhsm.user_pin, create_if_missing=True
    )
    wrapped = first.wrap(b"k" * 32, context=b"c")
    with pytest.raises(UnwrapFailed, match="unknown key-encryption key"):
        second.unwrap(wrapped, context=b"c")


@pytest.fixture
def hsm_runtime(tmp_path: Path, database_url: str, softhsm: SoftHSM) -> Iterator[Runtime]:  # noqa: F811
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings: Settings = make_settings(
        data_dir,
        database_url=database_url,
        master_secret=None,
        key_provider="pkcs11",
        pkcs11_module=str(softhsm.module),
        pkcs11_token_label=softhsm.token_label,
        pkcs11_pin=softhsm.user_pin,
        blob_chunk_size=4096,
    )
    build_key_provider(settings, create_if_missing=True)
    rt = Runtime(settings)
    upgrade(rt.engine)
    try:
        yield rt
    finally:
        rt.close()


def test_blobs_and_fields_under_the_hsm_then_rotation(hsm_runtime: Runtime) -> None:
    rt = hsm_runtime
    assert rt.keys.name == "pkcs11"
    data = secrets.token_bytes(3 * 4096 + 17)
    ref = rt.blobs.put(data, content_type="application/pdf")
    token = rt.fields.encrypt("JBSWY3DPEHPK3PXP", purpose="accounts.totp")
    old_kek = rt.keys.active_kek_id()
    assert rt.blobs.count_by_kek() == {old_kek: 1}
    new_kek = rt.keys.rotate()
    assert rt.blobs.rewrap_all() == 1
    assert rt.data_keys.rewrap() == 1
    assert rt.blobs.count_by_kek() == {new_kek: 1}
    assert rt.data_keys.count_by_kek() == {new_kek: 1}
    fresh = Runtime(rt.settings)
    try:
        assert fresh.blobs.read_bytes(ref.id) == data
        assert fresh.fields.decrypt(token, purpose="accounts.totp") == "JBSWY3DPEHPK3PXP"
    finally:
        fresh.close()


def test_keys_commands_with_the_hsm(softhsm: SoftHSM, tmp_path: Path) -> None:  # noqa: F811
    from click.testing import CliRunner

    from sealpact.cli.main import cli

    env = {
        "SEALPACT_DATA_DIR": str(tmp_path),
        "SEALPACT_KEY_PROVIDER": "pkcs11",
        "SEALPACT_PKCS11_MODULE": str(softhsm.module),
        "SEALPACT_PKCS11_TOKEN_LABEL": softhsm.spare_tokens[1],
        "SEALPACT_PKCS11_PIN": softhsm.user_pin,
    }

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=env, obj={}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    first = run("keys", "init").split()[-1]
    assert first.startswith("p11-")
    assert run("keys", "init").split()[-1] == first  # idempotent
    run("db", "upgrade")
    assert f"active KEK: {first}" in run("keys", "status")
    out = run("keys", "rotate")
    assert "new active KEK: p11-" in out and f"(previous: {first})" in out
    assert "re-wrapped 0 blob keys and 0 data keys" in out
