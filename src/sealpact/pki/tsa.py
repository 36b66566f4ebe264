"""RFC 3161 time-stamp protocol, pure: parse a TimeStampReq, build a TimeStampResp. No I/O, no clock.

The hot path is hand-written DER: everything constant for one TSA identity (the certificate set, the
signer identifier, the SigningCertificateV2 attribute, algorithm identifiers, the TSA name, accuracy) is
encoded once in :class:`TokenBuilder`; per token we only encode the TSTInfo and the signed attributes,
hash once and make one signature. The parser is a small strict DER reader for the one structure a
client sends; anything it does not accept becomes a :class:`TsaRejection` with the RFC 3161 failInfo
(section 2.4.2), never another exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from sealpact.pki.errors import PkiError
from sealpact.pki.signing_key import KeyAlgorithm, SigningKey

CONTENT_TYPE_QUERY = "application/timestamp-query"  # RFC 3161 section 3.4
CONTENT_TYPE_REPLY = "application/timestamp-reply"

MAX_NONCE_BYTES = 64  # a nonce is a large random number (section 2.4.1); 512 bits is plenty


class FailInfo(IntEnum):
    """PKIFailureInfo bit numbers (RFC 3161 section 2.4.2)."""

    BAD_ALG = 0  # unrecognized or unsupported Algorithm Identifier
    BAD_REQUEST = 2  # transaction not permitted or supported
    BAD_DATA_FORMAT = 5  # the data submitted has the wrong format
    TIME_NOT_AVAILABLE = 14  # the TSA's time source is not available
    UNACCEPTED_POLICY = 15  # the requested TSA policy is not supported by the TSA
    UNACCEPTED_EXTENSION = 16  # the requested extension is not supported by the TSA
    ADD_INFO_NOT_AVAILABLE = 17
    SYSTEM_FAILURE = 25  # the request cannot be handled due to system failure


class PkiStatus(IntEnum):
    GRANTED = 0
    GRANTED_WITH_MODS = 1
    REJECTION = 2
    WAITING = 3
    REVOCATION_WARNING = 4
    REVOCATION_NOTIFICATION = 5


class TsaRejection(PkiError):
    """A request the TSA answers with PKIStatus rejection and ``fail_info`` (not an HTTP error)."""

    code = "tsa_rejected"
    http_status = 400

    def __init__(self, fail_info: FailInfo, message: str) -> None:
        super().__init__(message)
        self.fail_info = fail_info


class TsaConfigurationError(PkiError):
    """The TSA key or certificate is unusable (RFC 3161 section 2.3 requirements not met)."""

    code = "tsa_misconfigured"
    http_status = 503  # the service is unavailable until an operator fixes the TSA certificate


# --- DER encoding (X.690 section 10: definite lengths, minimal encodings) -----------------------------


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:  # the common case, without the general length encoder
        return bytes((tag, n)) + content
    return bytes((tag,)) + _der_len(n) + content


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _set_of(items: Sequence[bytes]) -> bytes:
    # DER SET OF: elements sorted by their encodings (X.690 section 11.6).
    return _tlv(0x31, b"".join(sorted(items)))


def der_integer(value: int) -> bytes:
    size = ((value if value >= 0 else ~value).bit_length() + 8) // 8
    return _tlv(0x02, value.to_bytes(size, "big", signed=True))


def der_oid(dotted: str) -> bytes:
    """Encode an OBJECT IDENTIFIER (X.690 section 8.19)."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError as exc:
        raise ValueError(f"not an OID: {dotted!r}") from exc
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or min(arcs) < 0:
        raise ValueError(f"not an OID: {dotted!r}")
    body = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def oid_to_dotted(content: bytes) -> str:
    """Decode the content octets of an OBJECT IDENTIFIER (for messages and results)."""
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0] if arcs else 0
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def generalized_time(at: datetime) -> bytes:
    """GeneralizedTime ``YYYYMMDDhhmmss[.s...]Z``, milliseconds, no trailing zeros (section 2.4.2)."""
    at = at.astimezone(UTC)
    text = at.strftime("%Y%m%d%H%M%S")
    millis = at.microsecond // 1000
    if millis:
        text += "." + f"{millis:03d}".rstrip("0")
    return _tlv(0x18, (text + "Z").encode("ascii"))


# --- algorithms --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HashAlgorithm:
    name: str  # hashlib name
    oid: str
    digest_size: int


# Accepted message imprint algorithms. MD5 and SHA-1 are refused (badAlg): a collision lets one token
# cover two documents.
HASH_ALGORITHMS: tuple[HashAlgorithm, ...] = (
    HashAlgorithm("sha256", "2.16.840.1.101.3.4.2.1", 32),
    HashAlgorithm("sha384", "2.16.840.1.101.3.4.2.2", 48),
    HashAlgorithm("sha512", "2.16.840.1.101.3.4.2.3", 64),
    HashAlgorithm("sha3_256", "2.16.840.1.101.3.4.2.8", 32),
    HashAlgorithm("sha3_384", "2.16.840.1.101.3.4.2.9", 48),
    HashAlgorithm("sha3_512", "2.16.840.1.101.3.4.2.10", 64),
)
_HASH_BY_OID_CONTENT: dict[bytes, HashAlgorithm] = {der_oid(h.oid)[2:]: h for h in HASH_ALGORITHMS}
_HASH_BY_NAME: dict[str, HashAlgorithm] = {h.name: h for h in HASH_ALGORITHMS}
# AlgorithmIdentifier encodings, with parameters absent or NULL (both allowed, RFC 5754 section 2).
_ALG_ID_DER: dict[tuple[str, bool], bytes] = {
    (h.oid, null): _seq(der_oid(h.oid) + (b"\x05\x00" if null else b""))
    for h in HASH_ALGORITHMS
    for null in (False, True)
}
_HASH_BY_NAME.update({h.name.replace("_", "-"): h for h in HASH_ALGORITHMS})

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_CT_TST_INFO = "1.2.840.113549.1.9.16.1.4"  # RFC 3161 section 2.4.2
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # RFC 5035 section 3
OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"  # RFC 5758 section 3.2: parameters absent
OID_SHA256_WITH_RSA = "1.2.840.113549.1.1.11"  # RFC 4055 section 5: parameters NULL

_NULL = b"\x05\x00"
_SHA256_ALG_ID = _seq(der_oid("2.16.840.1.101.3.4.2.1"))  # RFC 5754 section 2: parameters absent


def hash_algorithm(name: str) -> HashAlgorithm:
    try:
        return _HASH_BY_NAME[name.lower()]
    except KeyError:
        raise TsaRejection(FailInfo.BAD_ALG, f"unsupported hash algorithm {name!r}") from None


# --- the request ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeStampRequest:
    """A parsed, checked TimeStampReq (RFC 3161 section 2.4.1)."""

    hash_algorithm: HashAlgorithm
    hash_params_null: bool  # the AlgorithmIdentifier carried NULL parameters (echoed as sent)
    digest: bytes
    policy: bytes | None  # content octets of reqPolicy, when present
    nonce: int | None
    cert_req: bool

    @property
    def policy_oid(self) -> str | None:
        return oid_to_dotted(self.policy) if self.policy is not None else None

    def message_imprint_der(self) -> bytes:
        alg_id = _ALG_ID_DER[self.hash_algorithm.oid, self.hash_params_null]
        return _seq(alg_id, _tlv(0x04, self.digest))


def _bad(message: str) -> TsaRejection:
    return TsaRejection(FailInfo.BAD_DATA_FORMAT, message)


class _DerReader:
    """Strict DER TLV reader over ``data[pos:end]``: definite, minimal lengths, low tag numbers."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.pos >= self.end

    def peek_tag(self) -> int | None:
        return None if self.at_end() else self.data[self.pos]

    def read(self, expected_tag: int) -> tuple[int, int]:
        """Consume one element with ``expected_tag``; return (content start, content end)."""
        data, pos, end = self.data, self.pos, self.end
        if pos + 2 > end:
            raise _bad("truncated DER")
        tag = data[pos]
        if tag != expected_tag:
            raise _bad(f"unexpected DER tag 0x{tag:02x}")
        first = data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + count > end:
                raise _bad("unsupported or truncated DER length")
            length = int.from_bytes(data[pos : pos + count], "big")
            if length < 0x80 or data[pos] == 0:
                raise _bad("non-minimal DER length")
            pos += count
        if pos + length > end:
            raise _bad("truncated DER")
        self.pos = pos + length
        return pos, pos + length

    def read_content(self, expected_tag: int) -> bytes:
        start, stop = self.read(expected_tag)
        return self.data[start:stop]

    def enter(self, expected_tag: int = 0x30) -> _DerReader:
        start, stop = self.read(expected_tag)
        return _DerReader(self.data, start, stop)


def _oid_content_ok(content: bytes) -> bool:
    # X.690 section 8.19.2: each subidentifier minimal (no leading 0x80), the last octet ends one.
    if not content or content[-1] & 0x80:
        return False
    previous_ended = True
    for byte in content:
        if previous_ended and byte == 0x80:
            return False
        previous_ended = not byte & 0x80
    return True


def parse_request(data: bytes) -> TimeStampRequest:
    """Parse and check a DER TimeStampReq; raise :class:`TsaRejection` with the failInfo to return."""
    outer = _DerReader(data)
    req = outer.enter(0x30)
    if not outer.at_end():
        raise _bad("trailing data after TimeStampReq")

    version = req.read_content(0x02)
    if version != b"\x01":  # v1(1), section 2.4.1
        raise TsaRejection(FailInfo.BAD_REQUEST, "unsupported TimeStampReq version")

    imprint = req.enter(0x30)
    alg_id = imprint.enter(0x30)
    alg_oid = alg_id.read_content(0x06)
    params_null = False
    if not alg_id.at_end():
        if alg_id.peek_tag() != 0x05 or alg_id.read_content(0x05) != b"" or not alg_id.at_end():
            raise TsaRejection(FailInfo.BAD_ALG, "unexpected hash algorithm parameters")
        params_null = True
    digest = imprint.read_content(0x04)
    if not imprint.at_end():
        raise _bad("trailing data in MessageImprint")
    algorithm = _HASH_BY_OID_CONTENT.get(alg_oid)
    if algorithm is None:
        name = oid_to_dotted(alg_oid) if _oid_content_ok(alg_oid) else "malformed OID"
        raise TsaRejection(FailInfo.BAD_ALG, f"unsupported hash algorithm {name}")
    if len(digest) != algorithm.digest_size:
        raise _bad(f"a {algorithm.name} message imprint is {algorithm.digest_size} bytes, got {len(digest)}")

    policy: bytes | None = None
    nonce: int | None = None
    cert_req = False
    if req.peek_tag() == 0x06:
        policy = req.read_content(0x06)
        if not _oid_content_ok(policy):
            raise _bad("malformed reqPolicy OID")
    if req.peek_tag() == 0x02:
        raw = req.read_content(0x02)
        if not raw or len(raw) > MAX_NONCE_BYTES:
            raise _bad("nonce missing or too long")
        nonce = int.from_bytes(raw, "big", signed=True)
    if req.peek_tag() == 0x01:
        raw = req.read_content(0x01)
        if len(raw) != 1:
            raise _bad("malformed certReq BOOLEAN")
        cert_req = raw != b"\x00"
    if req.peek_tag() == 0xA0:
        # Section 2.4.1: an extension the server does not recognise, critical or not, is refused.
        req.read(0xA0)
        raise TsaRejection(FailInfo.UNACCEPTED_EXTENSION, "request extensions are not supported")
    if not req.at_end():
        raise _bad("unexpected element in TimeStampReq")
    return TimeStampRequest(algorithm, params_null, digest, policy, nonce, cert_req)


def build_request(
    digest: bytes,
    algorithm: str = "sha256",
    *,
    nonce: int | None = None,
    cert_req: bool = True,
    policy: str | None = None,
) -> bytes:
    """Encode a TimeStampReq (the client side, used by our time-stampers and tests)."""
    hash_alg = hash_algorithm(algorithm)
    if len(digest) != hash_alg.digest_size:
        raise ValueError(f"{hash_alg.name} digests are {hash_alg.digest_size} bytes")
    parts = [der_integer(1), _seq(_seq(der_oid(hash_alg.oid)), _tlv(0x04, digest))]
    if policy is not None:
        parts.append(der_oid(policy))
    if nonce is not None:
        parts.append(der_integer(nonce))
    if cert_req:
        parts.append(b"\x01\x01\xff")
    return _seq(*parts)


# --- responses ---------------------------------------------------------------------------------------


def build_rejection(fail_info: FailInfo, message: str) -> bytes:
    """TimeStampResp with PKIStatus rejection, a statusString and failInfo (section 2.4.2)."""
    bit = int(fail_info)
    bits = bytearray(bit // 8 + 1)
    bits[bit // 8] = 0x80 >> (bit % 8)
    # DER named bit list: trailing zero bits dropped, so the unused count is 7 - bit % 8.
    fail_bits = _tlv(0x03, bytes((7 - bit % 8,)) + bytes(bits))
    status_string = _seq(_tlv(0x0C, message.encode("utf-8")[:512]))
    return _seq(_seq(der_integer(PkiStatus.REJECTION), status_string, fail_bits))


@dataclass(frozen=True)
class TsaIdentity:
    """The TSA's signing key and its certificate chain (TSA certificate first, then its CAs).

    The chain should stop below the root: relying parties bring their own trust anchor.
    """

    key: SigningKey
    chain: tuple[bytes, ...]  # DER certificates


_GRANTED = _seq(der_integer(PkiStatus.GRANTED))


class TokenBuilder:
    """Builds time-stamp tokens for one TSA identity; constants are pre-encoded at construction.

    ``accuracy`` goes into every TSTInfo (section 2.4.2); it should cover the clock's real error.
    """

    def __init__(self, identity: TsaIdentity, *, accuracy: timedelta) -> None:
        if not identity.chain:
            raise TsaConfigurationError("the TSA identity has no certificate")
        cert = x509.load_der_x509_certificate(identity.chain[0])
        _check_tsa_certificate(cert, identity.key)
        self._key = identity.key
        tsa_der = identity.chain[0]

        # SignerInfo sid: IssuerAndSerialNumber (RFC 5652 section 5.3, version 1).
        issuer = cert.issuer.public_bytes()
        self._sid = _seq(issuer, der_integer(cert.serial_number))
        # ESSCertIDv2 with the default hash (SHA-256, so the AlgorithmIdentifier is omitted) and
        # IssuerSerial (RFC 5035 section 4); SigningCertificateV2 is required by RFC 5816 section 2.2.1.
        issuer_serial = _seq(_seq(_tlv(0xA4, issuer)), der_integer(cert.serial_number))
        ess_cert_id = _seq(_tlv(0x04, hashlib.sha256(tsa_der).digest()), issuer_serial)
        signing_cert_attr = _seq(der_oid(OID_SIGNING_CERTIFICATE_V2), _set_of([_seq(_seq(ess_cert_id))]))
        content_type_attr = _seq(der_oid(OID_CONTENT_TYPE), _set_of([der_oid(OID_CT_TST_INFO)]))
        digest_attr_prefix = der_oid(OID_MESSAGE_DIGEST) + b"\x31\x22\x04\x20"  # SET { OCTET STRING (32) }
        digest_attr_head = b"\x30" + _der_len(len(digest_attr_prefix) + 32) + digest_attr_prefix
        # The SET OF attributes is DER-sorted; all three have fixed lengths, so the order is fixed too.
        placeholder = digest_attr_head + b"\x00" * 32
        ordered = sorted([content_type_attr, placeholder, signing_cert_attr])
        index = ordered.index(placeholder)
        self._attrs_before = b"".join(ordered[:index])
        self._attrs_after = b"".join(ordered[index + 1 :])
        self._digest_attr_head = digest_attr_head
        self._attrs_len = _der_len(sum(len(a) for a in ordered))

        if identity.key.algorithm is KeyAlgorithm.EC_P256:
            self._sig_alg = _seq(der_oid(OID_ECDSA_WITH_SHA256))
        else:
            self._sig_alg = _seq(der_oid(OID_SHA256_WITH_RSA), _NULL)
        self._signer_prefix = der_integer(1) + self._sid + _SHA256_ALG_ID
        # RFC 3161 section 2.4.1: with certReq the TSA certificate MUST be present; we add the CAs
        # below the root so `openssl ts -verify -CAfile root.pem` finds the path.
        self._certificates = _tlv(0xA0, b"".join(sorted(identity.chain)))
        self._sd_head = der_integer(3) + _set_of([_SHA256_ALG_ID])  # version 3: eContentType != id-data
        self._econtent_type = der_oid(OID_CT_TST_INFO)
        self._signed_data_oid = der_oid(OID_SIGNED_DATA)
        self._tsa_name = _tlv(0xA0, _tlv(0xA4, cert.subject.public_bytes()))  # [0] GeneralName
        self._accuracy = _accuracy_der(accuracy)
        self.certificate = cert

    def build_token(
        self, request: TimeStampRequest, *, serial: int, gen_time: datetime, policy: bytes
    ) -> bytes:
        """The TimeStampToken (ContentInfo with SignedData over TSTInfo) for ``request``.

        ``policy`` is the TSAPolicyId's content octets (already checked against the accepted list).
        """
        nonce = der_integer(request.nonce) if request.nonce is not None else b""
        tst_info = _seq(
            b"\x02\x01\x01",  # version v1
            _tlv(0x06, policy),
            request.message_imprint_der(),
            der_integer(serial),
            generalized_time(gen_time),
            self._accuracy,
            nonce,
            self._tsa_name,
        )
        digest = hashlib.sha256(tst_info).digest()
        attrs = self._attrs_before + self._digest_attr_head + digest + self._attrs_after
        # Signed over the attributes re-tagged as SET OF (RFC 5652 section 5.4).
        signature = self._key.sign(b"\x31" + self._attrs_len + attrs)
        signer_info = _seq(
            self._signer_prefix,
            b"\xa0" + self._attrs_len + attrs,
            self._sig_alg,
            _tlv(0x04, signature),
        )
        signed_data = _seq(
            self._sd_head,
            _seq(self._econtent_type, _tlv(0xA0, _tlv(0x04, tst_info))),
            self._certificates if request.cert_req else b"",
            _tlv(0x31, signer_info),
        )
        return _seq(self._signed_data_oid, _tlv(0xA0, signed_data))

    def build_response(
        self, request: TimeStampRequest, *, serial: int, gen_time: datetime, policy: bytes
    ) -> bytes:
        """TimeStampResp with status granted and the token (section 2.4.2)."""
        return granted_response(self.build_token(request, serial=serial, gen_time=gen_time, policy=policy))


def granted_response(token: bytes) -> bytes:
    """TimeStampResp ``{status granted, timeStampToken}`` around an already built token."""
    return _seq(_GRANTED, token)


def _accuracy_der(accuracy: timedelta) -> bytes:
    micros_total = int(accuracy / timedelta(microseconds=1))
    if micros_total <= 0:
        return b""
    seconds, rest = divmod(micros_total, 1_000_000)
    millis, micros = divmod(rest, 1000)
    parts = []
    if seconds:
        parts.append(der_integer(seconds))
    if millis:
        parts.append(b"\x80" + der_integer(millis)[1:])  # [0] IMPLICIT INTEGER (1..999)
    if micros:
        parts.append(b"\x81" + der_integer(micros)[1:])  # [1] IMPLICIT INTEGER (1..999)
    return _seq(*parts)


def _check_tsa_certificate(cert: x509.Certificate, key: SigningKey) -> None:
    """RFC 3161 section 2.3: exactly one, critical, extended key usage: id-kp-timeStamping."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TsaConfigurationError("the TSA certificate has no extended key usage") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TsaConfigurationError("the TSA certificate needs a critical EKU of timeStamping only")
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki != key.public_key_der():
        raise TsaConfigurationError("the TSA key does not match the TSA certificate")
