"""CA, TSA and OCSP keys on a real SoftHSM2 token: generated there, non-extractable, signing there."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509 import ocsp as cocsp
from sqlalchemy import select

from sealpact.config import Settings
from sealpact.db import upgrade
from sealpact.pki.errors import KeyStoreError
from sealpact.pki.models import PkiKey
from sealpact.pki.pkcs11 import Pkcs11Token
from sealpact.pki.policy import SubjectIdentity, SubjectKind, VerificationLevel
from sealpact.pki.signing_key import KeyAlgorithm
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider
from tests.conftest import MASTER_SECRET, make_settings
from tests.softhsm import SoftHSM, softhsm  # noqa: F401


@pytest.fixture
def hsm_settings(tmp_path: Path, database_url: str, softhsm: SoftHSM) -> Settings:  # noqa: F811
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = make_settings(
        data_dir,
        database_url=database_url,
        pki_key_store="pkcs11",
        pkcs11_module=softhsm.module,
        pkcs11_token_label=softhsm.token_label,
        pkcs11_pin=softhsm.user_pin,
    )
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    return settings


@pytest.fixture
def hsm_runtime(hsm_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime(hsm_settings)
    upgrade(runtime.engine)
    try:
        yield runtime
    finally:
        runtime.close()


def _token_object(softhsm: SoftHSM, label: str, object_class: pkcs11.ObjectClass) -> pkcs11.Object:  # noqa: F811
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.token_label)
    try:
        session = token.open(user_pin=softhsm.user_pin)
    except pkcs11.UserAlreadyLoggedIn:
        session = token.open()
    return session.get_key(object_class=object_class, label=label)


def _pem(cert_der: bytes) -> bytes:
    return cx509.load_der_x509_certificate(cert_der).public_bytes(serialization.Encoding.PEM)


def test_hierarchy_on_the_token(hsm_runtime: Runtime, softhsm: SoftHSM, tmp_path: Path) -> None:  # noqa: F811
    assert hsm_runtime.pki.ensure_hierarchy() == ["root", "issuing", "tsa", "ocsp"]
    with hsm_runtime.sessions() as session:
        rows = [r for r in session.scalars(select(PkiKey)) if r.purpose in ("root", "issuing", "tsa", "ocsp")]
    assert len(rows) == 4
    for row in rows:
        # Nothing private in the database: the key is on the token, sensitive and not extractable.
        assert row.store == "pkcs11" and row.encrypted_private is None and row.wrapped_key is None
        private = _token_object(softhsm, row.id, pkcs11.ObjectClass.PRIVATE_KEY)
        assert private[pkcs11.Attribute.SENSITIVE] is True
        assert private[pkcs11.Attribute.EXTRACTABLE] is False
        assert private[pkcs11.Attribute.NEVER_EXTRACTABLE] is True

    identity = SubjectIdentity(
        SubjectKind.INDIVIDUAL, "Wang Wu", hsm_runtime.pki.pseudonym("passport", "E12345678"),
        VerificationLevel.BASIC, True,
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = hsm_runtime.pki.issue(identity, public_key_der=spki)
    (tmp_path / "root.pem").write_bytes(hsm_runtime.pki.export_root())
    (tmp_path / "chain.pem").write_bytes(hsm_runtime.pki.export_chain())
    (tmp_path / "ee.pem").write_bytes(_pem(info.der))
    command = ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "chain.pem", "ee.pem"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

    # The OCSP responder key on the token signs responses that verify with its certificate.
    issuer = cx509.load_der_x509_certificate(hsm_runtime.pki.certificate_der("issuing"))
    request = cocsp.OCSPRequestBuilder().add_certificate(
        cx509.load_der_x509_certificate(info.der), issuer, hashes.SHA1()
    )
    answer = hsm_runtime.pki.ocsp(request.build().public_bytes(serialization.Encoding.DER))
    response = cocsp.load_der_ocsp_response(answer.body)
    assert response.certificate_status is cocsp.OCSPCertStatus.GOOD
    responder = cx509.load_der_x509_certificate(hsm_runtime.pki.certificate_der("ocsp"))
    responder.public_key().verify(  # type: ignore[call-arg, union-attr]
        response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )

    # Another process (a fresh runtime) finds the same keys on the token by label.
    fresh = Runtime(hsm_runtime.settings)
    try:
        tsa_key, chain = fresh.pki.tsa_identity()
        signature = tsa_key.sign(b"time-stamp me")
        cx509.load_der_x509_certificate(chain[0].dump()).public_key().verify(  # type: ignore[call-arg, union-attr]
            signature, b"time-stamp me", ec.ECDSA(hashes.SHA256())
        )
        revoked = fresh.pki.revoke(info.serial, "cessation_of_operation")
        assert revoked.status == "revoked"
        crl = cx509.load_der_x509_crl(fresh.pki.crl("issuing").der)
        assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    finally:
        fresh.close()


def test_rsa_key_on_the_token(softhsm: SoftHSM) -> None:  # noqa: F811
    token = Pkcs11Token(softhsm.module, softhsm.token_label, softhsm.user_pin)
    try:
        key = token.generate("pki-rsa-test-" + softhsm.token_label, KeyAlgorithm.RSA_3072)
        public = serialization.load_der_public_key(key.public_key_der())
        public.verify(key.sign(b"data"), b"data", padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg, union-attr]
        assert public.key_size == 3072  # type: ignore[union-attr]
        again = token.find(key.key_id, KeyAlgorithm.RSA_3072, key.public_key_der())
        assert again.public_key_der() == key.public_key_der()
        with pytest.raises(KeyStoreError, match="does not match"):
            token.find(key.key_id, KeyAlgorithm.RSA_3072, b"\x30\x00")
        with pytest.raises(KeyStoreError, match="not found"):
            token.find("no-such-label", KeyAlgorithm.EC_P256, b"")
    finally:
        token.close()


def test_wrong_pin_and_missing_token(softhsm: SoftHSM) -> None:  # noqa: F811
    with pytest.raises(KeyStoreError, match="rejected the PIN"):
        Pkcs11Token(softhsm.module, softhsm.spare_tokens[-1], "wrong-pin")
    with pytest.raises(KeyStoreError, match="no PKCS#11 token"):
        Pkcs11Token(softhsm.module, "no-such-token", softhsm.user_pin)
    with pytest.raises(KeyStoreError, match="does not exist"):
        Pkcs11Token(Path("/nonexistent/libpkcs11.so"), softhsm.token_label, softhsm.user_pin)
