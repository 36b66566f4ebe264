"""Custody keys on SQLite and PostgreSQL: PIN-only unlock, attempt limit and lock, change, reset, audit.

The signer is verified through the real identity flow (sandbox authority over HTTP); keys are certified by
the platform CA; the database and the keyring are the real ones of the runtime. Argon2id runs with a
small memory cost here (the production default is 64 MiB), which changes nothing but speed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, text

from sealpact.audit.models import AuditEvent
from sealpact.contracts.models import Party
from sealpact.custody import crypto
from sealpact.custody.errors import (
    NoSignerKey,
    PinInvalid,
    PinLocked,
    ReverificationRequired,
    SignerKeyExists,
    WeakPin,
)
from sealpact.custody.keysource import CustodyKeySource
from sealpact.custody.models import CustodyKey
from sealpact.custody.service import Subject, _share_context
from sealpact.db import transaction
from sealpact.storage.keys import WrappedKey
from tests.test_identity_support import REGISTRY, Env, identity_env

PIN = "246813"
NEW_PIN = "975312"
MAX = 3
FAST_KDF = {
    "custody_argon2_memory_kib": 8192,
    "custody_argon2_time_cost": 1,
    "custody_argon2_parallelism": 1,
    "custody_max_pin_failures": MAX,
}


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    yield from identity_env(database_url, tmp_path, **FAST_KDF)


def verified_user(env: Env, person: int = 0) -> str:
    """A new account that passed two-element verification (level 1) as ``REGISTRY.persons[person]``."""
    env.runtime.pki.ensure_hierarchy()
    client, user_id = env.client()
    p = REGISTRY.persons[person]
    response = client.post("/api/v1/identity/individual/id2", json={"name": p.name, "id_number": p.id_number})
    assert response.status_code == 200 and response.json()["state"] == "verified", response.text
    return user_id


def _row(env: Env, user_id: str) -> CustodyKey:
    with transaction(env.runtime.sessions) as session:
        row = session.scalar(
            select(CustodyKey).where(CustodyKey.user_id == user_id, CustodyKey.status == "active")
        )
        assert row is not None
        session.expunge(row)
        return row


def _actions(env: Env) -> list[str]:
    with transaction(env.runtime.sessions) as session:
        return [
            e.action
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
            if e.action.startswith("custody.")
        ]


def _signs_for_certificate(credentials: object) -> None:
    key, chain = credentials.key, credentials.chain  # type: ignore[attr-defined]
    signature = key.sign(b"contract digest")
    public = serialization.load_der_public_key(chain[0].public_key.dump())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"contract digest", ec.ECDSA(hashes.SHA256()))


def test_settings_default_to_five_failures() -> None:
    from sealpact.config import Settings

    assert Settings.model_fields["custody_max_pin_failures"].default == 5


def test_create_and_unlock_with_pin_only(env: Env) -> None:
    custody = env.runtime.custody
    user_id = verified_user(env)
    with pytest.raises(NoSignerKey):
        custody.unlock(user_id=user_id, pin=PIN)
    with pytest.raises(WeakPin):
        custody.create_key(user_id=user_id, pin="123456")
    info = custody.create_key(user_id=user_id, pin=PIN)
    with pytest.raises(SignerKeyExists):
        custody.create_key(user_id=user_id, pin=PIN)

    credentials = custody.unlock(user_id=user_id, pin=PIN)
    leaf = credentials.certificate
    assert format(leaf.serial_number, "x") == info.certificate_serial
    assert leaf.subject.native["common_name"] == REGISTRY.persons[0].name
    assert leaf.public_key.dump() == _row(env, user_id).public_key
    _signs_for_certificate(credentials)
    # Two unlocks give two independent key objects: nothing is cached between signings.
    assert custody.unlock(user_id=user_id, pin=PIN).key is not credentials.key

    # The stored key is P-256 PKCS#8 under AES-GCM; the certificate was issued by the platform CA.
    row = _row(env, user_id)
    assert row.kdf == "argon2id$t=1,m=8192,p=1" and len(row.salt) == 16
    with env.runtime.pki.tx() as session:
        status = session.execute(
            text("SELECT status FROM pki_certificates WHERE serial = :s"), {"s": info.certificate_serial}
        ).scalar()
    assert status == "good"
    assert _actions(env) == ["custody.key.created", "custody.unlock.ok", "custody.unlock.ok"]


def test_database_and_keyring_without_the_pin_cannot_sign(env: Env) -> None:
    custody = env.runtime.custody
    user_id = verified_user(env)
    custody.create_key(user_id=user_id, pin=PIN)
    for wrong in ("", "000000", PIN[:-1], PIN + "0", "abcdef", "2468130"):
        with pytest.raises(PinInvalid) as info:
            custody.unlock(user_id=user_id, pin=wrong)
        assert info.value.http_status == 422 and info.value.code == "pin_invalid"
        assert PIN not in info.value.message
        custody.unlock(user_id=user_id, pin=PIN)  # resets the counter, so the loop never locks

    # Everything the database and the keyring hold, without the PIN: the server share unwraps...
    row = _row(env, user_id)
    share = env.runtime.keys.unwrap(WrappedKey.decode(row.server_share_enc), context=_share_context(row.id))
    assert len(share) == 32
    nonce, body = row.private_key_enc[:12], row.private_key_enc[12:]
    aad = crypto.BLOB_AAD + row.id.encode()
    # ...but neither the share itself, nor HKDF over the share alone (PIN part missing or empty),
    # nor a KEK from a wrong PIN opens the blob.
    candidates = [
        share,
        HKDF(hashes.SHA256(), 32, None, crypto.KEK_INFO + row.id.encode()).derive(share),
        crypto.derive_kek("", row.salt, share, row.id, crypto.Argon2Params.decode(row.kdf)),
        crypto.derive_kek("000000", row.salt, share, row.id, crypto.Argon2Params.decode(row.kdf)),
    ]
    for kek in candidates:
        with pytest.raises(InvalidTag):
            AESGCM(kek).decrypt(nonce, body, aad)
    # The share is bound to its key id: it does not unwrap under another key's context.
    from sealpact.storage.keys import UnwrapFailed

    with pytest.raises(UnwrapFailed):
        env.runtime.keys.unwrap(WrappedKey.decode(row.server_share_enc), context=_share_context("other"))
    # With the PIN it does (the derivation documented in sealpact.custody.crypto).
    kek = crypto.derive_kek(PIN, row.salt, share, row.id, crypto.Argon2Params.decode(row.kdf))
    pkcs8 = AESGCM(kek).decrypt(nonce, body, aad)
    assert (
        serialization.load_der_private_key(pkcs8, None)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        == row.public_key
    )

    # No PIN, no key material in plaintext anywhere in the custody rows or the audit log.
    with env.runtime.engine.connect() as conn:
        dump = "\n".join(
            " ".join(str(v) for v in r)
            for table in ("custody_keys", "audit_events")
            for r in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert PIN not in dump and base64.b64encode(pkcs8).decode()[:40] not in dump


def test_wrong_pins_lock_and_a_correct_pin_resets_the_counter(env: Env) -> None:
    custody = env.runtime.custody
    user_id = verified_user(env)
    custody.create_key(user_id=user_id, pin=PIN)
    for left in range(MAX - 1, 0, -1):
        with pytest.raises(PinInvalid) as info:
            custody.unlock(user_id=user_id, pin="111222")
        assert info.value.attempts_left == left
    custody.unlock(user_id=user_id, pin=PIN)
    assert _row(env, user_id).failed_attempts == 0

    for _ in range(MAX - 1):
        with pytest.raises(PinInvalid):
            custody.unlock(user_id=user_id, pin="111222")
    with pytest.raises(PinLocked) as locked:
        custody.unlock(user_id=user_id, pin="111222")
    assert locked.value.http_status == 423 and locked.value.code == "pin_locked"
    # Locked: even the right PIN is refused, and no further attempts are counted.
    with pytest.raises(PinLocked):
        custody.unlock(user_id=user_id, pin=PIN)
    row = _row(env, user_id)
    assert row.failed_attempts == MAX and row.locked_at is not None
    assert custody.key_info(user_id=user_id).locked
    actions = _actions(env)
    assert actions.count("custody.unlock.failed") == 2 * MAX - 1
    assert actions.count("custody.key.locked") == 1


def test_key_source_for_contracts_maps_party_to_subject_and_refuses_wrong_pin(env: Env) -> None:
    user_id = verified_user(env)
    env.runtime.custody.create_key(user_id=user_id, pin=PIN)
    source = CustodyKeySource(env.runtime.custody)
    party = Party(kind="individual", organization_id=None)
    _signs_for_certificate(source.unlock(user_id=user_id, pin=PIN, party=party))
    with pytest.raises(PinInvalid) as info:
        source.unlock(user_id=user_id, pin="864200", party=party)
    assert 400 <= info.value.http_status < 500
    # An enterprise party needs the key certified for that enterprise, held by one of its managers.
    from sealpact.errors import NotFound

    with pytest.raises(NotFound):
        source.unlock(user_id=user_id, pin=PIN, party=Party(kind="enterprise", organization_id="org-x"))


def test_change_pin_needs_the_old_pin_and_rewraps(env: Env) -> None:
    custody = env.runtime.custody
    user_id = verified_user(env)
    info = custody.create_key(user_id=user_id, pin=PIN)
    before = _row(env, user_id)
    with pytest.raises(PinInvalid):
        custody.change_pin(user_id=user_id, old_pin="555666", new_pin=NEW_PIN)
    with pytest.raises(WeakPin):
        custody.change_pin(user_id=user_id, old_pin=PIN, new_pin="777777")
    changed = custody.change_pin(user_id=user_id, old_pin=PIN, new_pin=NEW_PIN)
    assert changed.certificate_serial == info.certificate_serial and changed.failed_attempts == 0
    after = _row(env, user_id)
    assert after.salt != before.salt and after.private_key_enc != before.private_key_enc
    assert after.server_share_enc != before.server_share_enc and after.public_key == before.public_key
    with pytest.raises(PinInvalid):
        custody.unlock(user_id=user_id, pin=PIN)
    _signs_for_certificate(custody.unlock(user_id=user_id, pin=NEW_PIN))
    assert "custody.pin.changed" in _actions(env)


def test_reset_needs_fresh_reverification_rekeys_and_revokes(env: Env) -> None:
    custody = env.runtime.custody
    started = env.clock.now()
    user_id = verified_user(env)
    old = custody.create_key(user_id=user_id, pin=PIN)
    for _ in range(MAX):
        with pytest.raises((PinInvalid, PinLocked)):
            custody.unlock(user_id=user_id, pin="121212")
    with pytest.raises(PinLocked):
        custody.unlock(user_id=user_id, pin=PIN)

    # A verification older than the reset flow does not count, nor one older than 30 minutes.
    with pytest.raises(ReverificationRequired):
        custody.reset_pin(
            user_id=user_id, new_pin=NEW_PIN, reverification_started_at=env.clock.now() + timedelta(seconds=1)
        )
    with pytest.raises(WeakPin):
        custody.reset_pin(user_id=user_id, new_pin="654321", reverification_started_at=started)
    fresh = custody.reset_pin(user_id=user_id, new_pin=NEW_PIN, reverification_started_at=started)
    assert fresh.key_id != old.key_id and fresh.certificate_serial != old.certificate_serial
    assert not fresh.locked

    record = env.runtime.pki.get_certificate(old.certificate_serial)
    assert record.status == "revoked" and record.reason == "superseded"
    credentials = custody.unlock(user_id=user_id, pin=NEW_PIN)
    assert format(credentials.certificate.serial_number, "x") == fresh.certificate_serial
    _signs_for_certificate(credentials)
    with pytest.raises(PinInvalid):
        custody.unlock(user_id=user_id, pin=PIN)
    with transaction(env.runtime.sessions) as session:
        rows = list(session.scalars(select(CustodyKey).where(CustodyKey.user_id == user_id)))
    assert sorted((r.status, r.slot is None) for r in rows) == [("active", False), ("retired", True)]
    assert "custody.pin.reset" in _actions(env)


def test_reset_refused_when_verification_is_stale(env: Env) -> None:
    custody = env.runtime.custody
    started = env.clock.now()
    user_id = verified_user(env)
    custody.create_key(user_id=user_id, pin=PIN)
    env.clock.advance(minutes=31)
    with pytest.raises(ReverificationRequired) as info:
        custody.reset_pin(user_id=user_id, new_pin=NEW_PIN, reverification_started_at=started)
    assert info.value.http_status == 403


def test_event_certificate_is_short_lived_and_nothing_is_stored(env: Env) -> None:
    user_id = verified_user(env)
    credentials = env.runtime.custody.event_credentials(user_id=user_id, subject=Subject.individual(user_id))
    leaf: x509.Certificate = credentials.certificate
    lifetime = leaf.not_valid_after - env.clock.now()
    assert timedelta(minutes=59) < lifetime <= timedelta(minutes=60)
    _signs_for_certificate(credentials)
    with transaction(env.runtime.sessions) as session:
        assert session.scalar(select(CustodyKey.id)) is None  # no key row at all
    record = env.runtime.pki.get_certificate(format(leaf.serial_number, "x"))
    assert record.status == "good"
    assert "custody.event_certificate.issued" in _actions(env)


def test_keys_only_for_yourself_or_an_organization_you_manage(env: Env) -> None:
    from sealpact.errors import NotFound, PermissionDenied

    custody = env.runtime.custody
    user_id = verified_user(env)
    other_id = verified_user(env, 1)
    with pytest.raises(PermissionDenied):
        custody.create_key(user_id=user_id, pin=PIN, subject=Subject.individual(other_id))
    with pytest.raises(NotFound) as info:  # not a member: another organization's id answers 404
        custody.create_key(user_id=user_id, pin=PIN, subject=Subject.enterprise("no-such-org"))
    assert info.value.http_status == 404
    with pytest.raises(PermissionDenied):
        custody.event_credentials(user_id=user_id, subject=Subject.individual(other_id))
    with transaction(env.runtime.sessions) as session:
        assert session.scalar(select(CustodyKey.id)) is None


def test_unlocked_custody_key_and_event_key_sign_pdfs_that_verify(env: Env) -> None:
    from sealpact.custody.keysource import EventKeySource
    from sealpact.signing import Level, SigningEngine
    from sealpact.signing.verify import verify_pdf
    from tests.test_signing_support import make_pdf

    user_id = verified_user(env)
    env.runtime.custody.create_key(user_id=user_id, pin=PIN)
    party = Party(kind="individual", organization_id=None)
    root = x509.Certificate.load(env.runtime.pki.certificate_der("root"))
    engine = SigningEngine(env.runtime)
    pdf = make_pdf(1)
    for source in (CustodyKeySource(env.runtime.custody), EventKeySource(env.runtime.custody)):
        credentials = source.unlock(user_id=user_id, pin=PIN, party=party)
        signed = engine.sign(pdf, credentials, level=Level.B_T).output.read()
        report = verify_pdf(signed, trust=[root], clock=env.clock)
        assert report.valid, report.failures()
        assert report.signatures[0].trusted
