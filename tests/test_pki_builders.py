"""Pure PKI builders: no database. Property tests for the parsers that face the network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as cocsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealpact.pki import builders, ocsp
from sealpact.pki.errors import InvalidRequest
from sealpact.pki.policy import (
    POLICY_ARC,
    VerificationLevel,
    end_entity_policy_oid,
    parse_end_entity_policy,
    uscc_is_valid,
)
from sealpact.pki.signing_key import KeyAlgorithm, SoftwareSigningKey

# Unified social credit codes published by the enterprises themselves (business licences).
PUBLISHED_USCC = ("91110108551385082Q", "9144030071526726XG", "914403001922038216", "91350100M000100Y43")


@pytest.mark.parametrize("code", PUBLISHED_USCC)
def test_published_uscc_are_valid(code: str) -> None:
    assert uscc_is_valid(code)


@given(
    st.sampled_from(PUBLISHED_USCC), st.integers(0, 17), st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUWXY")
)
def test_any_single_character_change_breaks_the_check(code: str, position: int, replacement: str) -> None:
    changed = code[:position] + replacement + code[position + 1 :]
    assert uscc_is_valid(changed) == (changed == code)


@given(st.sampled_from(list(VerificationLevel)), st.booleans())
def test_policy_oids_round_trip(level: VerificationLevel, sandbox: bool) -> None:
    oid = end_entity_policy_oid(level, sandbox)
    assert oid.startswith(POLICY_ARC + ".1.")
    assert parse_end_entity_policy(oid) == (level, sandbox)


def test_unrelated_oids_are_not_policies() -> None:
    for oid in (
        "2.5.29.32.0",
        POLICY_ARC + ".2",
        POLICY_ARC + ".1.9.1",
        POLICY_ARC + ".1.1.3",
        POLICY_ARC + ".1.x.1",
    ):
        assert parse_end_entity_policy(oid) is None


def test_time_encoding_switches_in_2050() -> None:
    # RFC 5280 section 4.1.2.5.
    assert builders.x509_time(datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)).name == "utc_time"
    assert builders.x509_time(datetime(2050, 1, 1, tzinfo=UTC)).name == "general_time"


def test_serials_are_positive_128_bit_and_distinct() -> None:
    serials = {builders.random_serial() for _ in range(2000)}
    assert len(serials) == 2000
    assert all(64 < s.bit_length() <= 128 for s in serials)


def test_names_refuse_non_printable_serial_numbers() -> None:
    with pytest.raises(InvalidRequest):
        builders.build_name(common_name="x", serial_number="张三")
    name = builders.build_name(common_name="张三", country="CN", serial_number="SP1-ABC")
    assert list(name.native) == ["country_name", "serial_number", "common_name"]


def _issuer() -> tuple[SoftwareSigningKey, cx509.Certificate]:
    key = SoftwareSigningKey.generate("test", KeyAlgorithm.EC_P256)
    spki = builders.check_public_key(key.public_key_der())
    name = builders.build_name(common_name="Test CA", country="CN")
    now = datetime.now(UTC)
    cert = builders.build_certificate(
        issuer_key=key,
        issuer_name=name,
        issuer_key_id=builders.key_identifier(spki),
        subject=name,
        subject_spki=spki,
        serial=builders.random_serial(),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
        profile=builders.CertificateProfile(is_ca=True, key_usage=frozenset({"key_cert_sign", "crl_sign"})),
    )
    return key, cx509.load_der_x509_certificate(cert.dump())


def test_empty_crl_omits_the_list_and_verifies() -> None:
    key, cert = _issuer()
    now = datetime.now(UTC)
    crl = builders.build_crl(
        issuer_key=key,
        issuer_name=builders.build_name(common_name="Test CA", country="CN"),
        issuer_key_id=cert.extensions.get_extension_for_class(cx509.SubjectKeyIdentifier).value.digest,
        crl_number=1,
        this_update=now,
        next_update=now + timedelta(days=1),
        revoked=[],
    )
    # RFC 5280 section 5.1.2.6: no revoked certificates -> the field is absent, not an empty list.
    assert "revoked_certificates" not in {k for k, v in crl["tbs_cert_list"].native.items() if v is not None}
    parsed = cx509.load_der_x509_crl(crl.dump())
    assert parsed.is_signature_valid(cert.public_key())  # type: ignore[arg-type]
    assert parsed.extensions.get_extension_for_class(cx509.CRLNumber).value.crl_number == 1
    assert isinstance(asn1_crl.CertificateList.load(crl.dump()), asn1_crl.CertificateList)


def test_certificate_validity_must_be_ordered() -> None:
    key, _ = _issuer()
    spki = builders.check_public_key(key.public_key_der())
    name = builders.build_name(common_name="x")
    now = datetime.now(UTC)
    with pytest.raises(InvalidRequest):
        builders.build_certificate(
            issuer_key=key,
            issuer_name=name,
            issuer_key_id=None,
            subject=name,
            subject_spki=spki,
            serial=1,
            not_before=now,
            not_after=now,
            profile=builders.CertificateProfile(),
        )


def _valid_request(nonce: bool = True) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(cx509.NameOID.COMMON_NAME, "ca")])
    cert = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(99)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    builder = cocsp.OCSPRequestBuilder().add_certificate(cert, cert, hashes.SHA1())
    if nonce:
        builder = builder.add_extension(cx509.OCSPNonce(b"n" * 16), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


VALID_REQUEST = _valid_request()


def test_valid_request_parses() -> None:
    parsed = ocsp.parse_request(VALID_REQUEST)
    assert parsed.nonce == b"n" * 16
    assert [q.serial for q in parsed.queries] == [99]
    assert parsed.queries[0].hash_algorithm == "sha1"


def _with_nonce(nonce: bytes) -> bytes:
    request = asn1_ocsp.OCSPRequest.load(VALID_REQUEST)
    tbs = request["tbs_request"]
    tbs["request_extensions"][0]["extn_value"] = nonce
    return asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump(force=True)


def test_nonce_length_limits() -> None:
    # RFC 8954 section 2.1: 1 to 32 octets.
    assert ocsp.parse_request(_with_nonce(b"n" * 32)).nonce == b"n" * 32
    for bad in (b"n" * 33, b""):
        with pytest.raises(ocsp.OcspRequestError) as caught:
            ocsp.parse_request(_with_nonce(bad))
        assert caught.value.status is ocsp.OcspFailure.MALFORMED_REQUEST


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_are_malformed_never_a_crash(data: bytes) -> None:
    try:
        ocsp.parse_request(data)
    except ocsp.OcspRequestError as exc:
        assert exc.status is ocsp.OcspFailure.MALFORMED_REQUEST


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(VALID_REQUEST) - 1), st.integers(0, 255))
def test_mutated_requests_parse_or_are_malformed(position: int, value: int) -> None:
    data = bytearray(VALID_REQUEST)
    data[position] = value
    try:
        parsed = ocsp.parse_request(bytes(data))
    except ocsp.OcspRequestError as exc:
        assert exc.status is ocsp.OcspFailure.MALFORMED_REQUEST
    else:
        assert len(parsed.queries) == 1
