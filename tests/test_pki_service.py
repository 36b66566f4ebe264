"""PKI service on SQLite and PostgreSQL: hierarchy, issuance, revocation, renewal, re-key, CRLs, keys."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import csr as asn1_csr
from asn1crypto import x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from sealpact.audit.models import AuditEvent
from sealpact.clock import FrozenClock
from sealpact.pki.errors import CertificateNotFound, InvalidRequest, InvalidState
from sealpact.pki.models import IssuedCertificate, PkiAuthority, PkiKey
from sealpact.pki.policy import (
    EKU_DOCUMENT_SIGNING,
    POLICY_ARC,
    SubjectIdentity,
    SubjectKind,
    VerificationLevel,
    parse_end_entity_policy,
)
from sealpact.pki.signing_key import KeyAlgorithm
from sealpact.runtime import Runtime

ID_NUMBER = "11010519491231002X"  # the GB 11643 example number


def spki(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def make_csr(key: ec.EllipticCurvePrivateKey, cn: str = "whatever the requester says") -> bytes:
    request = (
        cx509.CertificateSigningRequestBuilder()
        .subject_name(cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.DER)


def individual(
    runtime: Runtime, *, sandbox: bool = False, email: str | None = "li@example.com"
) -> SubjectIdentity:
    return SubjectIdentity(
        SubjectKind.INDIVIDUAL,
        "李四",
        runtime.pki.pseudonym("resident_id", ID_NUMBER),
        VerificationLevel.ENHANCED,
        sandbox,
        email,
    )


def count(runtime: Runtime, model: type, **where: object) -> int:
    with runtime.sessions() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(session.scalar(query) or 0)


@pytest.fixture
def pki(runtime: Runtime) -> Runtime:
    runtime.pki.ensure_hierarchy()
    return runtime


def test_hierarchy_is_created_once(runtime: Runtime) -> None:
    assert runtime.pki.ensure_hierarchy() == ["root", "issuing", "tsa", "ocsp"]
    assert runtime.pki.ensure_hierarchy() == []
    assert count(runtime, PkiAuthority) == 4
    assert count(runtime, AuditEvent, action="pki.ca.created") == 2

    root = x509.Certificate.load(runtime.pki.certificate_der("root"))
    issuing = x509.Certificate.load(runtime.pki.certificate_der("issuing"))
    assert root.self_signed == "maybe" and root.ca and root.max_path_length is None
    assert root.key_usage_value.native == {"key_cert_sign", "crl_sign"}
    assert issuing.issuer == root.subject and issuing.max_path_length == 0
    assert issuing.crl_distribution_points[0]["distribution_point"].native == [
        "http://testserver/pki/crl/root.crl"
    ]

    key, chain = runtime.pki.tsa_identity()
    tsa = chain[0]
    assert [c.subject for c in chain[1:]] == [issuing.subject, root.subject]
    eku = tsa.extended_key_usage_value
    assert eku.native == ["time_stamping"] and tsa.critical_extensions >= {"extended_key_usage"}
    assert key.public_key_der() == tsa.public_key.dump()

    ocsp = x509.Certificate.load(runtime.pki.certificate_der("ocsp"))
    assert ocsp.extended_key_usage_value.native == ["ocsp_signing"]
    assert ocsp.ocsp_no_check_value is not None


def test_private_keys_are_encrypted_at_rest(pki: Runtime) -> None:
    key, _ = pki.pki.tsa_identity()
    pkcs8 = key.private_key_pkcs8()  # type: ignore[attr-defined]
    with pki.sessions() as session:
        rows = session.scalars(select(PkiKey)).all()
    assert {r.purpose for r in rows} >= {"root", "issuing", "tsa", "ocsp"}
    for row in rows:
        assert row.encrypted_private and row.wrapped_key and row.kek_id
        assert pkcs8 not in row.encrypted_private
    # A fresh process (new runtime) unwraps and gets the same key.
    fresh = Runtime(pki.settings)
    try:
        again, _ = fresh.pki.tsa_identity()
        assert again.public_key_der() == key.public_key_der()
    finally:
        fresh.close()


def test_issue_individual_from_csr(pki: Runtime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    info = pki.pki.issue(individual(pki, sandbox=True), csr_der=make_csr(key))
    cert = info.certificate
    subject = cert.subject.native
    assert subject["common_name"] == "李四" and subject["country_name"] == "CN"
    assert subject["serial_number"].startswith("SP1-")
    assert ID_NUMBER not in cert.dump().decode("latin-1") and "whatever" not in cert.subject.human_friendly
    assert cert.public_key.dump() == spki(key)
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert cert.extended_key_usage_value.native == [EKU_DOCUMENT_SIGNING, "email_protection"]
    policies = [p["policy_identifier"].native for p in cert.certificate_policies_value]
    assert parse_end_entity_policy(policies[0]) == (VerificationLevel.ENHANCED, True)
    assert policies[0].startswith(POLICY_ARC)
    assert cert.ocsp_urls == ["http://testserver/pki/ocsp"]
    assert [d.url for d in cert.crl_distribution_points] == ["http://testserver/pki/crl/issuing.crl"]
    assert cert.subject_alt_name_value.native == ["li@example.com"]
    assert (info.not_after - info.not_before) == timedelta(days=365, minutes=5)
    assert 64 < cert.serial_number.bit_length() <= 128
    assert info.chain[0].subject == cert.issuer
    events = count(pki, AuditEvent, action="pki.certificate.issued", object_id=info.serial)
    assert events == 1


def test_pseudonym_is_stable_and_keyed(pki: Runtime) -> None:
    first = pki.pki.pseudonym("resident_id", ID_NUMBER)
    assert first == pki.pki.pseudonym("resident_id", " 11010519491231002x ")
    assert first != pki.pki.pseudonym("passport", ID_NUMBER)
    assert ID_NUMBER not in first


def test_issue_enterprise_from_public_key(pki: Runtime) -> None:
    identity = SubjectIdentity(
        SubjectKind.ENTERPRISE,
        "厦门示例科技有限公司",
        "91350100M000100Y43",
        VerificationLevel.STANDARD,
        False,
    )
    info = pki.pki.issue(
        identity, public_key_der=spki(rsa.generate_private_key(65537, 2048)), validity_days=30
    )
    subject = info.certificate.subject.native
    assert subject["organization_identifier"] == "NTRCN-91350100M000100Y43"
    assert subject["organization_name"] == "厦门示例科技有限公司"
    assert "serial_number" not in subject
    assert info.not_after - info.not_before == timedelta(days=30, minutes=5)


@pytest.mark.parametrize(
    "bad",
    [
        {"csr_der": b"\x30\x03\x02\x01\x01"},
        {"csr_der": b"not der"},
        {"public_key_der": b"\x30\x00"},
        {"public_key_der": b""},
    ],
)
def test_bad_requests_record_nothing(pki: Runtime, bad: dict[str, bytes]) -> None:
    before = count(pki, IssuedCertificate)
    with pytest.raises(InvalidRequest) as caught:
        pki.pki.issue(individual(pki), **bad)
    assert caught.value.code == "pki_invalid_request"
    assert count(pki, IssuedCertificate) == before
    assert count(pki, AuditEvent, action="pki.certificate.issued") == 2  # the TSA and OCSP certificates


def test_csr_with_a_wrong_signature_is_refused(pki: Runtime) -> None:
    request = asn1_csr.CertificationRequest.load(make_csr(ec.generate_private_key(ec.SECP256R1())))
    other = asn1_csr.CertificationRequest.load(make_csr(ec.generate_private_key(ec.SECP256R1())))
    forged = asn1_csr.CertificationRequest(
        {
            "certification_request_info": request["certification_request_info"],
            "signature_algorithm": request["signature_algorithm"],
            "signature": other["signature"],
        }
    )
    with pytest.raises(InvalidRequest, match="proof of possession"):
        pki.pki.issue(individual(pki), csr_der=forged.dump())


def test_weak_keys_are_refused(pki: Runtime) -> None:
    with pytest.raises(InvalidRequest, match="P-256"):
        pki.pki.issue(individual(pki), public_key_der=spki(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(InvalidRequest, match="2048"):
        pki.pki.issue(individual(pki), public_key_der=spki(rsa.generate_private_key(65537, 1024)))


def test_identity_validation() -> None:
    with pytest.raises(InvalidRequest, match="pseudonym"):
        SubjectIdentity(SubjectKind.INDIVIDUAL, "王五", "110105194912310021", VerificationLevel.BASIC, False)
    with pytest.raises(InvalidRequest, match="social credit"):
        SubjectIdentity(
            SubjectKind.ENTERPRISE, "某公司", "91350100M000100Y44", VerificationLevel.BASIC, False
        )
    with pytest.raises(InvalidRequest, match="name"):
        SubjectIdentity(SubjectKind.INDIVIDUAL, "a\x00b", "SP1-" + "A" * 32, VerificationLevel.BASIC, False)


def _crl(runtime: Runtime, name: str = "issuing") -> asn1_crl.CertificateList:
    return asn1_crl.CertificateList.load(runtime.pki.crl(name).der)


def _revoked(crl: asn1_crl.CertificateList) -> dict[int, str | None]:
    return {
        entry["user_certificate"].native: (entry.crl_reason_value.native if entry.crl_reason_value else None)
        for entry in crl["tbs_cert_list"]["revoked_certificates"]
    }


def test_revocation_hold_and_release(pki: Runtime) -> None:
    info = pki.pki.issue(individual(pki), public_key_der=spki(ec.generate_private_key(ec.SECP256R1())))
    serial = info.certificate.serial_number
    first = _crl(pki)
    assert serial not in _revoked(first)

    record = pki.pki.revoke(info.serial, "certificate_hold")
    assert record.status == "on_hold"
    held = _crl(pki)
    assert _revoked(held)[serial] == "certificate_hold"
    assert held.crl_number_value.native > first.crl_number_value.native

    assert pki.pki.release_hold(info.serial).status == "good"
    released = _crl(pki)
    assert serial not in _revoked(released)
    assert released.crl_number_value.native > held.crl_number_value.native

    pki.pki.revoke(info.serial.upper(), "key_compromise")
    assert _revoked(_crl(pki))[serial] == "key_compromise"
    with pytest.raises(InvalidState):
        pki.pki.revoke(info.serial, "superseded")
    with pytest.raises(InvalidState):
        pki.pki.release_hold(info.serial)
    with pytest.raises(InvalidRequest):
        pki.pki.revoke(info.serial, "because")
    with pytest.raises(CertificateNotFound):
        pki.pki.revoke("abcdef", "key_compromise")
    with pytest.raises(InvalidRequest):
        pki.pki.revoke("xyz", "key_compromise")
    actions = [
        json.loads(e.details).get("reason_code")
        for e in _events(pki, info.serial)
        if e.action in ("pki.certificate.revoked", "pki.certificate.hold_released")
    ]
    assert actions == ["certificate_hold", "remove_from_crl", "key_compromise"]


def _events(runtime: Runtime, serial: str) -> list[AuditEvent]:
    with runtime.sessions() as session:
        return list(
            session.scalars(select(AuditEvent).where(AuditEvent.object_id == serial).order_by(AuditEvent.seq))
        )


def test_root_cannot_be_revoked_but_issuing_ca_can(pki: Runtime) -> None:
    root = x509.Certificate.load(pki.pki.certificate_der("root"))
    with pytest.raises(InvalidState):
        pki.pki.revoke(format(root.serial_number, "x"), "key_compromise")
    issuing = x509.Certificate.load(pki.pki.certificate_der("issuing"))
    pki.pki.revoke(format(issuing.serial_number, "x"), "cessation_of_operation")
    assert _revoked(_crl(pki, "root")) == {issuing.serial_number: "cessation_of_operation"}


def test_renew_keeps_key_and_rekey_supersedes(pki: Runtime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    original = pki.pki.issue(individual(pki), csr_der=make_csr(key))
    renewed = pki.pki.renew(original.serial, validity_days=10)
    assert renewed.serial != original.serial
    assert renewed.certificate.public_key.dump() == spki(key)
    assert renewed.certificate.subject == original.certificate.subject
    assert pki.pki.get_certificate(original.serial).status == "good"

    with pytest.raises(InvalidRequest, match="new key"):
        pki.pki.rekey(renewed.serial, csr_der=make_csr(key))
    new_key = ec.generate_private_key(ec.SECP256R1())
    rekeyed = pki.pki.rekey(renewed.serial, csr_der=make_csr(new_key))
    assert rekeyed.certificate.public_key.dump() == spki(new_key)
    assert rekeyed.certificate.subject == original.certificate.subject
    old = pki.pki.get_certificate(renewed.serial)
    assert (old.status, old.reason) == ("revoked", "superseded")
    assert _revoked(_crl(pki))[renewed.certificate.serial_number] == "superseded"
    with pytest.raises(InvalidState):
        pki.pki.renew(renewed.serial)


def test_crl_refreshes_at_half_life_and_numbers_grow(runtime: Runtime) -> None:
    clock = FrozenClock(runtime.clock.now())
    rt = Runtime(runtime.settings, clock=clock)
    try:
        rt.pki.ensure_hierarchy()
        first = rt.pki.crl("issuing")
        assert rt.pki.crl("issuing").number == first.number  # still fresh: served as stored
        clock.advance(hours=rt.settings.pki_crl_validity_hours / 2 + 1)
        second = rt.pki.crl("issuing")
        assert second.number == first.number + 1 and second.this_update > first.this_update
        assert rt.pki.refresh_crls() == []
        assert rt.pki.refresh_crls(force=True) == ["root", "issuing"]
        assert rt.pki.crl("issuing").number == second.number + 1
        crl = asn1_crl.CertificateList.load(rt.pki.crl("root").der)
        assert crl["tbs_cert_list"]["next_update"].native - crl["tbs_cert_list"][
            "this_update"
        ].native == timedelta(days=rt.settings.pki_root_crl_validity_days)
    finally:
        rt.close()


def test_rsa_hierarchy(runtime: Runtime) -> None:
    runtime.pki.ensure_hierarchy(algorithm=KeyAlgorithm.RSA_3072)
    root = x509.Certificate.load(runtime.pki.certificate_der("root"))
    assert root.public_key.algorithm == "rsa" and root.public_key.bit_size == 3072
    assert root.signature_algo == "rsassa_pkcs1v15" and root.hash_algo == "sha256"
    info = runtime.pki.issue(individual(runtime), csr_der=make_csr(ec.generate_private_key(ec.SECP256R1())))
    assert info.certificate.signature_algo == "rsassa_pkcs1v15"


def test_maintenance_task_renews_responder_and_crls(runtime: Runtime) -> None:
    from sealpact.jobs import JobContext
    from sealpact.pki.tasks import maintain

    clock = FrozenClock(runtime.clock.now())
    rt = Runtime(runtime.settings, clock=clock)
    job = JobContext(
        runtime=rt, job_id="j", name="pki.maintain", attempt=1, max_attempts=1, next_retry_delay=None
    )
    try:
        assert rt.pki.maintain() == []  # no hierarchy: a worker never creates one
        assert count(rt, PkiAuthority) == 0
        rt.pki.ensure_hierarchy()
        assert rt.pki.maintain() == []
        old = x509.Certificate.load(rt.pki.certificate_der("ocsp"))
        clock.advance(days=340)
        maintain(job)
        new = x509.Certificate.load(rt.pki.certificate_der("ocsp"))
        assert new.serial_number != old.serial_number
        assert new.not_valid_after - clock.now() > timedelta(days=360)
        assert new.public_key.dump() == old.public_key.dump()
        assert rt.pki.crl("issuing").this_update == clock.now().replace(microsecond=0)
        with rt.sessions() as session:
            row = session.scalars(
                select(IssuedCertificate).where(IssuedCertificate.serial == format(new.serial_number, "x"))
            ).one()
            assert row.replaces_id is not None and row.kind == "ocsp"
    finally:
        rt.close()


def _ocsp(
    runtime: Runtime, *certs: cx509.Certificate, algorithm: hashes.HashAlgorithm | None = None
) -> bytes:
    from cryptography.x509 import ocsp as cocsp

    issuer = cx509.load_der_x509_certificate(runtime.pki.certificate_der("issuing"))
    builder = cocsp.OCSPRequestBuilder()
    for cert in certs:
        builder = builder.add_certificate(cert, issuer, algorithm or hashes.SHA1())
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_ocsp_statuses_follow_revocation(pki: Runtime) -> None:
    from asn1crypto import ocsp as asn1_ocsp

    info = pki.pki.issue(individual(pki), public_key_der=spki(ec.generate_private_key(ec.SECP256R1())))
    cert = cx509.load_der_x509_certificate(info.der)

    def status(request: bytes) -> list[tuple[str, object]]:
        answer = pki.pki.ocsp(request)
        assert answer.successful and answer.this_update and answer.next_update
        assert answer.next_update - answer.this_update == timedelta(
            seconds=pki.settings.pki_ocsp_validity_seconds
        )
        parsed = asn1_ocsp.OCSPResponse.load(answer.body)
        responses = parsed.basic_ocsp_response["tbs_response_data"]["responses"]
        return [(r["cert_status"].name, r["cert_status"].native) for r in responses]

    # SHA-256 CertIDs (RFC 6960 section 4.1.1 allows any hash) are answered like SHA-1 ones.
    assert status(_ocsp(pki, cert, algorithm=hashes.SHA256()))[0][0] == "good"
    pki.pki.revoke(info.serial, "certificate_hold")
    held = status(_ocsp(pki, cert))[0]
    assert held[0] == "revoked" and held[1]["revocation_reason"] == "certificate_hold"  # type: ignore[index]
    pki.pki.release_hold(info.serial)
    assert status(_ocsp(pki, cert))[0][0] == "good"


def test_ocsp_refuses_other_issuers_and_hashes(pki: Runtime) -> None:
    from asn1crypto import ocsp as asn1_ocsp

    info = pki.pki.issue(individual(pki), public_key_der=spki(ec.generate_private_key(ec.SECP256R1())))
    request = asn1_ocsp.OCSPRequest.load(_ocsp(pki, cx509.load_der_x509_certificate(info.der)))
    tbs = request["tbs_request"]
    cert_id = tbs["request_list"][0]["req_cert"]
    cert_id["hash_algorithm"] = {"algorithm": "md5"}
    answer = pki.pki.ocsp(asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump(force=True))
    assert not answer.successful
    assert asn1_ocsp.OCSPResponse.load(answer.body)["response_status"].native == "unauthorized"
    # The root CA's own subordinates are not answered by this (issuing CA's) responder.
    root = cx509.load_der_x509_certificate(pki.pki.certificate_der("root"))
    issuing = cx509.load_der_x509_certificate(pki.pki.certificate_der("issuing"))
    from cryptography.x509 import ocsp as cocsp

    about_issuing = cocsp.OCSPRequestBuilder().add_certificate(issuing, root, hashes.SHA1()).build()
    answer = pki.pki.ocsp(about_issuing.public_bytes(serialization.Encoding.DER))
    assert asn1_ocsp.OCSPResponse.load(answer.body)["response_status"].native == "unauthorized"


def test_concurrent_init_creates_one_hierarchy(runtime: Runtime) -> None:
    import threading

    runtimes = [Runtime(runtime.settings) for _ in range(3)]
    errors: list[BaseException] = []

    def init(rt: Runtime) -> None:
        try:
            rt.pki.ensure_hierarchy()
        except BaseException as exc:  # collected and re-raised by the test below
            errors.append(exc)

    threads = [threading.Thread(target=init, args=(rt,)) for rt in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for rt in runtimes:
        rt.close()
    assert errors == []
    assert count(runtime, PkiAuthority) == 4
    assert count(runtime, IssuedCertificate) == 4
