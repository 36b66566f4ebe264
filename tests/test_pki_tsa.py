"""The pure RFC 3161 core: request parsing and checking, token and rejection encoding.

Tokens are decoded with asn1crypto (an independent DER implementation) in strict mode and re-encoded: a
DER token re-encodes to the same bytes. Signatures are checked with ``cryptography``.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import algos, cms, core, tsp, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.pki.policy import TSA_POLICY_OID
from sealpact.pki.tsa import (
    FailInfo,
    TokenBuilder,
    TsaConfigurationError,
    TsaIdentity,
    TsaRejection,
    build_rejection,
    build_request,
    der_integer,
    der_oid,
    generalized_time,
    parse_request,
)
from tests.test_pki_tsa_support import TsaChain, make_tsa_chain

GEN_TIME = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
POLICY = der_oid(TSA_POLICY_OID)[2:]


@pytest.fixture(scope="module")
def chain() -> TsaChain:
    return make_tsa_chain()


@pytest.fixture(scope="module")
def builder(chain: TsaChain) -> TokenBuilder:
    return TokenBuilder(chain.identity, accuracy=timedelta(seconds=1, milliseconds=500))


def _asn1_request(**fields: object) -> bytes:
    """A TimeStampReq encoded by asn1crypto, as a third-party client would send it."""
    value: dict[str, object] = {
        "version": 1,
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": hashlib.sha256(b"doc").digest(),
        },
    }
    value.update(fields)
    return tsp.TimeStampReq(value).dump(force=True)


def _rejected(data: bytes) -> FailInfo:
    with pytest.raises(TsaRejection) as info:
        parse_request(data)
    return info.value.fail_info


# --- DER primitives -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 256, -1, -128, -129, 2**64, -(2**63), 2**159 + 7])
def test_integer_encoding_matches_asn1crypto(value: int) -> None:
    assert der_integer(value) == core.Integer(value).dump()


@pytest.mark.parametrize(
    "oid", [TSA_POLICY_OID, "1.2.840.113549.1.9.16.1.4", "2.16.840.1.101.3.4.2.1", "0.4.0.2023.1.1", "2.999"]
)
def test_oid_encoding_matches_asn1crypto(oid: str) -> None:
    assert der_oid(oid) == core.ObjectIdentifier(oid).dump()


def test_generalized_time_rfc3161_form() -> None:
    # Section 2.4.2: fraction without trailing zeros, and no fraction at all when it is zero.
    assert generalized_time(GEN_TIME)[2:] == b"20260304050607.89Z"
    assert generalized_time(GEN_TIME.replace(microsecond=0))[2:] == b"20260304050607Z"
    assert generalized_time(GEN_TIME.replace(microsecond=1000))[2:] == b"20260304050607.001Z"


# --- requests -------------------------------------------------------------------------------------------


def test_parse_request_from_another_encoder() -> None:
    digest = hashlib.sha256(b"doc").digest()
    request = parse_request(_asn1_request(nonce=-12345678901234567890, cert_req=True, req_policy="1.2.3.4"))
    assert request.hash_algorithm.name == "sha256"
    assert request.digest == digest
    assert request.nonce == -12345678901234567890
    assert request.cert_req is True
    assert request.policy_oid == "1.2.3.4"
    assert request.hash_params_null  # asn1crypto writes NULL parameters; our own requests omit them
    assert not parse_request(build_request(digest)).hash_params_null


def test_parse_request_defaults_and_null_params() -> None:
    data = _asn1_request(
        message_imprint={
            "hash_algorithm": {"algorithm": "sha512", "parameters": core.Null()},
            "hashed_message": hashlib.sha512(b"x").digest(),
        }
    )
    request = parse_request(data)
    assert (request.nonce, request.cert_req, request.policy) == (None, False, None)
    assert request.hash_params_null
    # The imprint is echoed with the parameters as sent (section 2.4.2: same value as in the request).
    assert request.message_imprint_der() == tsp.TimeStampReq.load(data)["message_imprint"].dump()


def test_build_request_round_trips() -> None:
    digest = os.urandom(48)
    data = build_request(digest, "sha384", nonce=2**70, cert_req=True, policy=TSA_POLICY_OID)
    assert tsp.TimeStampReq.load(data, strict=True).dump(force=True) == data
    request = parse_request(data)
    assert (request.digest, request.nonce, request.policy_oid) == (digest, 2**70, TSA_POLICY_OID)


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha224"])
def test_weak_or_unknown_hash_is_bad_alg(algorithm: str) -> None:
    size = {"md5": 16, "sha1": 20, "sha224": 28}[algorithm]
    data = _asn1_request(
        message_imprint={"hash_algorithm": {"algorithm": algorithm}, "hashed_message": b"\x01" * size}
    )
    assert _rejected(data) is FailInfo.BAD_ALG


def test_hash_parameters_other_than_null_are_bad_alg() -> None:
    sha256 = der_oid("2.16.840.1.101.3.4.2.1")  # asn1crypto refuses to encode this, so by hand
    alg = b"\x30" + bytes((len(sha256) + 3,)) + sha256 + b"\x02\x01\x01"  # parameters INTEGER 1
    imprint_body = alg + b"\x04\x20" + b"\x01" * 32
    body = b"\x02\x01\x01" + b"\x30" + bytes((len(imprint_body),)) + imprint_body
    assert _rejected(b"\x30" + bytes((len(body),)) + body) is FailInfo.BAD_ALG


@pytest.mark.parametrize("length", [0, 20, 31, 33, 64])
def test_digest_of_wrong_length_is_bad_data_format(length: int) -> None:
    data = _asn1_request(
        message_imprint={"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * length}
    )
    assert _rejected(data) is FailInfo.BAD_DATA_FORMAT


def test_version_2_is_bad_request() -> None:
    assert _rejected(_asn1_request(version=2)) is FailInfo.BAD_REQUEST


def test_any_extension_is_unaccepted() -> None:
    # Section 2.4.1: an unrecognised extension, critical or not, gets unacceptedExtension.
    extension = {"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}
    assert _rejected(_asn1_request(extensions=[extension])) is FailInfo.UNACCEPTED_EXTENSION


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x00",
        b"\x04\x03abc",
        b"\x30\x80\x02\x01\x01\x00\x00",  # indefinite length (BER, not DER)
        b"\x30\x81\x03\x02\x01\x01",  # non-minimal length
        _asn1_request() + b"\x00",  # trailing garbage
        _asn1_request()[:-1],  # truncated
    ],
)
def test_malformed_der_is_bad_data_format(data: bytes) -> None:
    assert _rejected(data) is FailInfo.BAD_DATA_FORMAT


def test_oversized_nonce_is_bad_data_format() -> None:
    assert _rejected(_asn1_request(nonce=2**600)) is FailInfo.BAD_DATA_FORMAT


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_parser_only_ever_rejects_in_protocol(data: bytes) -> None:
    """Arbitrary bytes either parse or give a TsaRejection, never another exception."""
    try:
        request = parse_request(data)
    except TsaRejection as exc:
        assert isinstance(exc.fail_info, FailInfo)
    else:
        assert len(request.digest) == request.hash_algorithm.digest_size


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512"]),
    st.one_of(st.none(), st.integers(min_value=-(2**255), max_value=2**255)),
    st.booleans(),
    st.data(),
)
def test_parser_agrees_with_asn1crypto(
    algorithm: str, nonce: int | None, cert_req: bool, data: st.DataObject
) -> None:
    digest = data.draw(st.binary(min_size=hashlib.new(algorithm).digest_size, max_size=64))
    digest = digest[: hashlib.new(algorithm).digest_size]
    fields: dict[str, object] = {
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest}
    }
    if nonce is not None:
        fields["nonce"] = nonce
    if cert_req:
        fields["cert_req"] = True
    request = parse_request(_asn1_request(**fields))
    assert (request.digest, request.nonce, request.cert_req) == (digest, nonce, cert_req)


# --- tokens ---------------------------------------------------------------------------------------------


def _load_token(token: bytes) -> tuple[cms.SignedData, tsp.TSTInfo]:
    content_info = cms.ContentInfo.load(token, strict=True)
    assert content_info.dump(force=True) == token  # DER re-encodes to itself
    assert content_info["content_type"].native == "signed_data"
    signed_data = content_info["content"]
    assert signed_data["encap_content_info"]["content_type"].native == "tst_info"
    return signed_data, signed_data["encap_content_info"]["content"].parsed


def _verify_signer(signed_data: cms.SignedData, chain: TsaChain) -> None:
    signer = signed_data["signer_infos"][0]
    signed_attrs = signer["signed_attrs"]
    public_key = chain.tsa.public_key()
    data = signed_attrs.untag().dump(force=True)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signer["signature"].native, data, ec.ECDSA(hashes.SHA256()))
    else:
        public_key.verify(signer["signature"].native, data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]


def test_token_structure_and_signature(chain: TsaChain, builder: TokenBuilder) -> None:
    digest = hashlib.sha256(b"contract").digest()
    request = parse_request(build_request(digest, nonce=987654321, cert_req=True))
    token = builder.build_token(request, serial=2**70 + 5, gen_time=GEN_TIME, policy=POLICY)
    signed_data, tst_info = _load_token(token)

    assert signed_data["version"].native == "v3"
    assert tst_info["version"].native == "v1"
    assert tst_info["policy"].dotted == TSA_POLICY_OID
    assert tst_info["message_imprint"]["hashed_message"].native == digest
    assert tst_info["serial_number"].native == 2**70 + 5
    assert tst_info["gen_time"].native == GEN_TIME.replace(microsecond=890000)
    assert tst_info["accuracy"].native == {"seconds": 1, "millis": 500, "micros": None}
    assert tst_info["ordering"].native is False
    assert tst_info["nonce"].native == 987654321
    assert tst_info["tsa"].name == "directory_name"
    assert tst_info["tsa"].chosen.native == x509.Name.load(chain.tsa.subject.public_bytes()).native

    # certReq: the TSA certificate and its issuing CA, not the root.
    certs = [c.chosen.dump() for c in signed_data["certificates"]]
    assert sorted(certs) == sorted([chain.der(chain.tsa), chain.der(chain.issuing)])

    signer = signed_data["signer_infos"][0]
    assert signer["sid"].chosen["serial_number"].native == chain.tsa.serial_number
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attrs["content_type"].native == "tst_info"
    tst_der = signed_data["encap_content_info"]["content"].contents
    assert attrs["message_digest"].native == hashlib.sha256(tst_der).digest()
    # RFC 5035 ESSCertIDv2 (RFC 5816): hash of the TSA certificate and its issuer/serial.
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["hash_algorithm"]["algorithm"].native == "sha256"
    assert ess["cert_hash"].native == hashlib.sha256(chain.der(chain.tsa)).digest()
    assert ess["issuer_serial"]["serial_number"].native == chain.tsa.serial_number
    issuer = ess["issuer_serial"]["issuer"][0]
    assert issuer.name == "directory_name"
    assert issuer.chosen.native == x509.Name.load(chain.tsa.issuer.public_bytes()).native
    _verify_signer(signed_data, chain)


def test_token_without_cert_req_has_no_certificates(builder: TokenBuilder) -> None:
    request = parse_request(build_request(os.urandom(32), cert_req=False))
    signed_data, tst_info = _load_token(
        builder.build_token(request, serial=1, gen_time=GEN_TIME, policy=POLICY)
    )
    assert not signed_data["certificates"]
    assert tst_info["nonce"].native is None


def test_tampered_token_fails_signature(chain: TsaChain, builder: TokenBuilder) -> None:
    request = parse_request(build_request(os.urandom(32), nonce=1))
    token = bytearray(builder.build_token(request, serial=77, gen_time=GEN_TIME, policy=POLICY))
    signed_data, _ = _load_token(bytes(token))
    signer = signed_data["signer_infos"][0]
    attrs = signer["signed_attrs"]
    digest_attr = next(a for a in attrs if a["type"].native == "message_digest")
    digest_attr["values"][0] = core.OctetString(b"\x00" * 32)
    with pytest.raises(InvalidSignature):
        _verify_signer(signed_data, chain)


def test_rsa_tsa_key() -> None:
    chain = make_tsa_chain(rsa=True)
    builder = TokenBuilder(chain.identity, accuracy=timedelta(0))
    request = parse_request(build_request(os.urandom(32)))
    signed_data, tst_info = _load_token(
        builder.build_token(request, serial=3, gen_time=GEN_TIME, policy=POLICY)
    )
    signer = signed_data["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_rsa"
    assert tst_info["accuracy"].native is None
    _verify_signer(signed_data, chain)


def test_accuracy_micros() -> None:
    builder = TokenBuilder(make_tsa_chain().identity, accuracy=timedelta(microseconds=2_003_004))
    request = parse_request(build_request(os.urandom(32)))
    _, tst_info = _load_token(builder.build_token(request, serial=1, gen_time=GEN_TIME, policy=POLICY))
    assert tst_info["accuracy"].native == {"seconds": 2, "millis": 3, "micros": 4}


@pytest.mark.parametrize(
    ("eku", "critical"),
    [
        ([ExtendedKeyUsageOID.TIME_STAMPING], False),  # section 2.3: the EKU MUST be critical
        ([ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING], True),
        ([ExtendedKeyUsageOID.CODE_SIGNING], True),
    ],
)
def test_tsa_certificate_requirements(eku: list[object], critical: bool) -> None:
    chain = make_tsa_chain(eku=eku, eku_critical=critical)  # type: ignore[arg-type]
    with pytest.raises(TsaConfigurationError):
        TokenBuilder(chain.identity, accuracy=timedelta(seconds=1))


def test_key_must_match_certificate() -> None:
    chain, other = make_tsa_chain(), make_tsa_chain()
    with pytest.raises(TsaConfigurationError, match="does not match"):
        TokenBuilder(TsaIdentity(key=other.key, chain=chain.identity.chain), accuracy=timedelta(0))


# --- rejections -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_info", list(FailInfo))
def test_rejection_encoding(fail_info: FailInfo) -> None:
    data = build_rejection(fail_info, "nope")
    # asn1crypto's TimeStampResp wrongly requires the token, so decode the one-element SEQUENCE by hand.
    outer = core.Sequence.load(data, strict=True)
    assert outer.dump(force=True) == data and len(outer) == 1
    status = tsp.PKIStatusInfo.load(outer[0].dump(), strict=True)
    assert status["status"].native == "rejection"
    assert status["status_string"].native == ["nope"]
    expected_name = tsp.PKIFailureInfo._map[int(fail_info)]
    assert status["fail_info"].native == {expected_name}


def test_public_key_helper_is_spki(chain: TsaChain) -> None:
    # The builder compares SubjectPublicKeyInfo DER; make sure both sides really are SPKI.
    spki = chain.tsa.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki == chain.key.public_key_der()
    assert algos.DigestAlgorithmId("sha256").dotted == "2.16.840.1.101.3.4.2.1"
