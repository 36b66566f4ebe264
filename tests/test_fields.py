"""Field-level encryption: round trip, purpose binding, tampering, lookup hashes, key persistence."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from sealpact.db import transaction
from sealpact.runtime import Runtime
from sealpact.storage.errors import FieldCipherError, InvalidPurpose
from sealpact.storage.models import DataKey


def test_round_trip_and_fresh_nonce(runtime: Runtime) -> None:
    fields = runtime.fields
    token = fields.encrypt("JBSWY3DPEHPK3PXP", purpose="accounts.totp")
    assert token.startswith("sf1.1.")
    assert "JBSWY3DPEHPK3PXP" not in token
    assert fields.decrypt(token, purpose="accounts.totp") == "JBSWY3DPEHPK3PXP"
    assert fields.encrypt("JBSWY3DPEHPK3PXP", purpose="accounts.totp") != token
    assert fields.decrypt(fields.encrypt("", purpose="x"), purpose="x") == ""
    assert fields.decrypt(fields.encrypt("张三 11010519491231002X", purpose="x"), purpose="x") == (
        "张三 11010519491231002X"
    )


def test_wrong_purpose_and_tampering_fail(runtime: Runtime) -> None:
    fields = runtime.fields
    token = fields.encrypt("6222020200112233445", purpose="identity.bank_account")
    fields.encrypt("warm", purpose="identity.mobile")  # the other purpose's key exists too
    with pytest.raises(FieldCipherError):
        fields.decrypt(token, purpose="identity.mobile")
    prefix, version, payload = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for bad in (
        f"{prefix}.{version}.{flipped}",
        f"sf9.{version}.{payload}",
        f"{prefix}.2.{payload}",
        f"{prefix}.{version}.!!!",
        f"{prefix}.{version}.AAAA",
        "plaintext",
        "",
    ):
        with pytest.raises(Exception) as info:
            fields.decrypt(bad, purpose="identity.bank_account")
        assert info.value.__class__.__name__ in {"FieldCipherError", "StorageError"}
        assert "6222" not in str(info.value)


def test_invalid_purpose_rejected(runtime: Runtime) -> None:
    for purpose in ("", "Upper", "a/b", "x" * 101, "sp ace"):
        with pytest.raises(InvalidPurpose):
            runtime.fields.encrypt("v", purpose=purpose)


def test_lookup_hash_is_deterministic_keyed_and_per_purpose(runtime: Runtime) -> None:
    fields = runtime.fields
    a = fields.lookup_hash("13800138000", purpose="identity.mobile")
    assert a == fields.lookup_hash("13800138000", purpose="identity.mobile")
    assert len(a) == 64 and int(a, 16) >= 0
    assert a != fields.lookup_hash("13800138001", purpose="identity.mobile")
    assert a != fields.lookup_hash("13800138000", purpose="identity.other")
    import hashlib

    assert a != hashlib.sha256(b"13800138000").hexdigest()


def test_keys_persist_across_runtimes_and_are_stored_wrapped(runtime: Runtime) -> None:
    token = runtime.fields.encrypt("secret", purpose="accounts.totp")
    digest = runtime.fields.lookup_hash("secret", purpose="accounts.totp")
    with transaction(runtime.sessions) as session:
        rows = session.scalars(select(DataKey).order_by(DataKey.name)).all()
        assert [(r.name, r.version) for r in rows] == [
            ("field-lookup:accounts.totp", 1),
            ("field:accounts.totp", 1),
        ]
        assert all(r.kek_id == runtime.keys.active_kek_id() for r in rows)
    fresh = Runtime(runtime.settings)
    try:
        assert fresh.fields.decrypt(token, purpose="accounts.totp") == "secret"
        assert fresh.fields.lookup_hash("secret", purpose="accounts.totp") == digest
    finally:
        fresh.close()


def test_key_created_in_callers_rolled_back_transaction_is_not_kept(runtime: Runtime) -> None:
    """A key made inside the caller's transaction exists only if that transaction commits."""
    fields = runtime.fields
    session = runtime.sessions()
    try:
        token = fields.encrypt("v", purpose="p.rollback", session=session)
        assert fields.decrypt(token, purpose="p.rollback", session=session) == "v"
        session.rollback()
    finally:
        session.close()
    with transaction(runtime.sessions) as s:
        assert s.scalar(select(func.count()).select_from(DataKey)) == 0
    # The next use makes (and keeps) a new key; the rolled-back one was never cached.
    token2 = fields.encrypt("w", purpose="p.rollback")
    assert fields.decrypt(token2, purpose="p.rollback") == "w"
    with transaction(runtime.sessions) as s:
        assert s.scalar(select(func.count()).select_from(DataKey)) == 1

    with transaction(runtime.sessions) as session:
        token3 = fields.encrypt("z", purpose="p.commit", session=session)
    fresh = Runtime(runtime.settings)
    try:
        assert fresh.fields.decrypt(token3, purpose="p.commit") == "z"
    finally:
        fresh.close()


def test_rotation_rewraps_field_keys_and_tokens_still_decrypt(runtime: Runtime) -> None:
    token = runtime.fields.encrypt("secret", purpose="accounts.totp")
    old_kek = runtime.keys.active_kek_id()
    new_kek = runtime.keys.rotate()
    assert runtime.data_keys.count_by_kek() == {old_kek: 1}
    assert runtime.data_keys.rewrap(batch_size=1) == 1
    assert runtime.data_keys.rewrap() == 0
    assert runtime.data_keys.count_by_kek() == {new_kek: 1}
    fresh = Runtime(runtime.settings)
    try:
        assert fresh.fields.decrypt(token, purpose="accounts.totp") == "secret"
    finally:
        fresh.close()
