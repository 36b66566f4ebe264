"""Pure builders for certificates, CRLs and CSRs (no I/O, no database).

Every structure is built as its to-be-signed part with asn1crypto and signed through a
:class:`~sealpact.pki.signing_key.SigningKey`, so the same code serves software keys and keys that never
leave a PKCS#11 token. Profiles follow RFC 5280; comments cite the sections they implement.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from asn1crypto import core, csr, keys, x509
from asn1crypto import crl as asn1_crl
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sealpact.pki.errors import InvalidRequest
from sealpact.pki.signing_key import KeyAlgorithm, SigningKey

# RFC 5280 section 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
_UTCTIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)


def signature_algorithm(algorithm: KeyAlgorithm) -> x509.SignedDigestAlgorithm:
    # RFC 5758 section 3.2: ecdsa-with-SHA256 has no parameters; RFC 4055 section 5: NULL for RSA.
    if algorithm is KeyAlgorithm.EC_P256:
        return x509.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    return x509.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})


def x509_time(value: datetime) -> x509.Time:
    value = value.astimezone(UTC).replace(microsecond=0)
    if value < _UTCTIME_LIMIT:
        return x509.Time({"utc_time": value})
    return x509.Time({"general_time": value})


def random_serial() -> int:
    """128 random bits (RFC 5280 section 4.1.2.2: positive, at most 20 octets); uniqueness is the caller's."""
    while True:
        serial = secrets.randbits(128)
        if serial >= 1 << 64:
            return serial


def key_identifier(spki: keys.PublicKeyInfo) -> bytes:
    """RFC 5280 section 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value."""
    return hashlib.sha1(spki["public_key"].contents[1:]).digest()  # noqa: S324  (an identifier, not security)


def check_public_key(spki_der: bytes) -> keys.PublicKeyInfo:
    """Parse a SubjectPublicKeyInfo we are willing to certify: EC P-256 or RSA 2048-4096 bits."""
    try:
        public = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest("not a valid public key") from exc
    if isinstance(public, ec.EllipticCurvePublicKey):
        if not isinstance(public.curve, ec.SECP256R1):
            raise InvalidRequest("only P-256 elliptic-curve keys are accepted")
    elif isinstance(public, rsa.RSAPublicKey):
        if not 2048 <= public.key_size <= 4096:
            raise InvalidRequest("RSA keys must be 2048 to 4096 bits")
    else:
        raise InvalidRequest("only EC P-256 and RSA keys are accepted")
    # Re-encode canonically, so odd-but-valid encodings never reach a certificate.
    return keys.PublicKeyInfo.load(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def verify_signature(spki_der: bytes, signature: bytes, data: bytes, algorithm_name: str) -> bool:
    """Check a SHA-256 signature (``sha256_ecdsa`` / ``sha256_rsa``) over ``data``."""
    public = serialization.load_der_public_key(spki_der)
    try:
        if isinstance(public, ec.EllipticCurvePublicKey) and algorithm_name == "sha256_ecdsa":
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            return True
        if isinstance(public, rsa.RSAPublicKey) and algorithm_name == "sha256_rsa":
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    return False


def certificate_signed_by(cert: x509.Certificate, issuer_spki_der: bytes) -> bool:
    algo = cert["signature_algorithm"]["algorithm"].native
    return verify_signature(
        issuer_spki_der, cert["signature_value"].native, cert["tbs_certificate"].dump(), algo
    )


def build_name(
    *,
    common_name: str,
    country: str | None = None,
    organization: str | None = None,
    serial_number: str | None = None,
    organization_identifier: str | None = None,
) -> x509.Name:
    """A distinguished name, most significant RDN first: C, O, organizationIdentifier, serialNumber, CN.

    countryName and serialNumber are PrintableString (RFC 5280 appendix A); the rest UTF8String
    (section 4.1.2.6), so Chinese names encode as they are.
    """
    values: list[tuple[str, str]] = []
    if country:
        values.append(("country_name", country))
    if organization:
        values.append(("organization_name", organization))
    if organization_identifier:
        values.append(("organization_identifier", organization_identifier))
    if serial_number:
        values.append(("serial_number", serial_number))
    values.append(("common_name", common_name))
    rdns = []
    for attr, value in values:
        encoded: core.Asn1Value
        if attr in ("country_name", "serial_number"):
            if not _PRINTABLE.match(value):
                raise InvalidRequest(f"{attr} must be a PrintableString")
            encoded = core.PrintableString(value)
        else:
            encoded = x509.DirectoryString(name="utf8_string", value=value)
        rdns.append(x509.RelativeDistinguishedName([{"type": attr, "value": encoded}]))
    return x509.Name(name="", value=x509.RDNSequence(rdns))


_PRINTABLE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]+$")


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName({"uniform_resource_identifier": url})


@dataclass(frozen=True)
class CertificateProfile:
    """What goes into one certificate besides subject, key, issuer and validity."""

    is_ca: bool = False
    path_length: int | None = None
    key_usage: frozenset[str] = frozenset({"digital_signature"})
    extended_key_usage: tuple[str, ...] = ()
    eku_critical: bool = False
    policies: tuple[str, ...] = ()
    ocsp_url: str | None = None
    ca_issuers_url: str | None = None
    crl_url: str | None = None
    ocsp_no_check: bool = False
    email: str | None = None
    extra: tuple[x509.Extension, ...] = field(default=())


def _extensions(
    profile: CertificateProfile, subject_spki: keys.PublicKeyInfo, authority_key_id: bytes | None
) -> list[x509.Extension]:
    ext: list[x509.Extension] = []

    def add(name: str, value: object, critical: bool = False) -> None:
        ext.append(x509.Extension({"extn_id": name, "critical": critical, "extn_value": value}))

    # 4.2.1.9: basicConstraints, critical in CA certificates.
    constraints: dict[str, object] = {"ca": profile.is_ca}
    if profile.is_ca and profile.path_length is not None:
        constraints["path_len_constraint"] = profile.path_length
    add("basic_constraints", constraints, critical=True)
    # 4.2.1.3: keyUsage, critical.
    add("key_usage", set(profile.key_usage), critical=True)
    # 4.2.1.2 / 4.2.1.1: subject and authority key identifiers.
    add("key_identifier", key_identifier(subject_spki))
    if authority_key_id is not None:
        add("authority_key_identifier", {"key_identifier": authority_key_id})
    # 4.2.1.12: extendedKeyUsage.
    if profile.extended_key_usage:
        add("extended_key_usage", list(profile.extended_key_usage), critical=profile.eku_critical)
    # 4.2.1.4: certificatePolicies.
    if profile.policies:
        add("certificate_policies", [{"policy_identifier": oid} for oid in profile.policies])
    # 4.2.2.1: authorityInfoAccess (OCSP responder and the issuer's certificate).
    access = []
    if profile.ocsp_url:
        access.append({"access_method": "ocsp", "access_location": _uri(profile.ocsp_url)})
    if profile.ca_issuers_url:
        access.append({"access_method": "ca_issuers", "access_location": _uri(profile.ca_issuers_url)})
    if access:
        add("authority_information_access", access)
    # 4.2.1.13: cRLDistributionPoints.
    if profile.crl_url:
        add("crl_distribution_points", [{"distribution_point": {"full_name": [_uri(profile.crl_url)]}}])
    # RFC 6960 section 4.2.2.2.1: id-pkix-ocsp-nocheck in the delegated responder certificate.
    if profile.ocsp_no_check:
        add("ocsp_no_check", core.Null())
    # 4.2.1.6: subjectAltName with the email address (S/MIME-style clients look for it there).
    if profile.email:
        add("subject_alt_name", [x509.GeneralName({"rfc822_name": profile.email})])
    ext.extend(profile.extra)
    return ext


def build_certificate(
    *,
    issuer_key: SigningKey,
    issuer_name: x509.Name,
    issuer_key_id: bytes | None,
    subject: x509.Name,
    subject_spki: keys.PublicKeyInfo,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    profile: CertificateProfile,
) -> x509.Certificate:
    """Assemble and sign a v3 certificate (RFC 5280 section 4.1). Self-signed when issuer == subject."""
    if not_after <= not_before:
        raise InvalidRequest("certificate validity ends before it starts")
    algo = signature_algorithm(issuer_key.algorithm)
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": algo,
            "issuer": issuer_name,
            "validity": {"not_before": x509_time(not_before), "not_after": x509_time(not_after)},
            "subject": subject,
            "subject_public_key_info": subject_spki,
            "extensions": _extensions(profile, subject_spki, issuer_key_id),
        }
    )
    signature = issuer_key.sign(tbs.dump())
    return x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": algo, "signature_value": signature}
    )


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: str | None  # asn1crypto CRLReason name; None = unspecified (entry extension omitted)


def build_crl(
    *,
    issuer_key: SigningKey,
    issuer_name: x509.Name,
    issuer_key_id: bytes,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
    revoked: Sequence[RevokedEntry],
) -> asn1_crl.CertificateList:
    """A complete v2 CRL (RFC 5280 section 5.1) with cRLNumber (5.2.3) and reasonCode entries (5.3.1)."""
    algo = signature_algorithm(issuer_key.algorithm)
    entries = []
    for entry in sorted(revoked, key=lambda e: e.serial):
        item: dict[str, object] = {
            "user_certificate": entry.serial,
            "revocation_date": x509_time(entry.revoked_at),
        }
        if entry.reason and entry.reason != "unspecified":
            # 5.3.1: reasonCode; "unspecified" SHOULD be expressed by omitting the extension.
            item["crl_entry_extensions"] = [
                {"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason}
            ]
        entries.append(item)
    tbs_fields: dict[str, object] = {
        "version": "v2",
        "signature": algo,
        "issuer": issuer_name,
        "this_update": x509_time(this_update),
        "next_update": x509_time(next_update),
        "crl_extensions": [
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": issuer_key_id},
            },
            {"extn_id": "crl_number", "critical": False, "extn_value": crl_number},
        ],
    }
    if entries:
        # 5.1.2.6: when there are no revoked certificates the list MUST be absent.
        tbs_fields["revoked_certificates"] = entries
    tbs = asn1_crl.TbsCertList(tbs_fields)
    signature = issuer_key.sign(tbs.dump())
    return asn1_crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": algo, "signature": signature}
    )


def build_csr(*, key: SigningKey, subject: x509.Name) -> csr.CertificationRequest:
    """A PKCS#10 request (RFC 2986 section 4) asking for a CA certificate for ``key``."""
    spki = keys.PublicKeyInfo.load(key.public_key_der())
    extensions = [
        {
            "extn_id": "basic_constraints",
            "critical": True,
            "extn_value": {"ca": True, "path_len_constraint": 0},
        },
        {"extn_id": "key_usage", "critical": True, "extn_value": {"key_cert_sign", "crl_sign"}},
        {"extn_id": "key_identifier", "critical": False, "extn_value": key_identifier(spki)},
    ]
    info = csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": subject,
            "subject_pk_info": spki,
            "attributes": [{"type": "extension_request", "values": [extensions]}],
        }
    )
    algo = signature_algorithm(key.algorithm)
    return csr.CertificationRequest(
        {"certification_request_info": info, "signature_algorithm": algo, "signature": key.sign(info.dump())}
    )


def parse_csr(der: bytes) -> keys.PublicKeyInfo:
    """The public key of a PKCS#10 request whose self-signature (proof of possession) verifies.

    The subject and requested extensions are ignored on purpose: what we certify comes from the verified
    identity, never from what the requester wrote.
    """
    try:
        request = csr.CertificationRequest.load(der, strict=True)
        info = request["certification_request_info"]
        spki_der = info["subject_pk_info"].dump()
        algo = request["signature_algorithm"]["algorithm"].native
        signature = request["signature"].native
        info_der = info.dump()
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidRequest("malformed certificate signing request") from exc
    spki = check_public_key(spki_der)
    if algo not in ("sha256_ecdsa", "sha256_rsa"):
        raise InvalidRequest("the CSR must be signed with ECDSA or RSA over SHA-256")
    if not verify_signature(spki.dump(), signature, info_der, algo):
        raise InvalidRequest("the CSR signature does not verify (no proof of possession)")
    return spki


def load_certificate(data: bytes) -> x509.Certificate:
    """One certificate from DER or PEM."""
    from asn1crypto import pem

    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        cert = x509.Certificate.load(data, strict=True)
        cert.native  # noqa: B018  (force a full parse so malformed input fails here)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidRequest("not a valid X.509 certificate") from exc
    return cert


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (or one DER certificate)."""
    from asn1crypto import pem

    if not pem.detect(data):
        return [load_certificate(data)]
    try:
        blocks = [der for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
    except ValueError as exc:
        raise InvalidRequest("malformed PEM") from exc
    return [load_certificate(der) for der in blocks]


def to_pem(kind: str, der: bytes) -> bytes:
    from asn1crypto import pem

    result: bytes = pem.armor(kind, der)
    return result
