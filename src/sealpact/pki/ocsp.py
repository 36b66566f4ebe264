"""OCSP (RFC 6960) request parsing and response building; pure, the service supplies the statuses.

The responder is a delegated one (section 4.2.2.2): a certificate issued by the CA, with EKU
id-kp-OCSPSigning and id-pkix-ocsp-nocheck. Responses identify it by key hash (section 4.2.1, as RFC 5019
section 2.2.3 recommends) and include its certificate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from asn1crypto import ocsp, x509

from sealpact.pki.builders import signature_algorithm
from sealpact.pki.signing_key import SigningKey

MAX_REQUESTS = 10  # single requests per OCSPRequest we answer
MAX_NONCE_BYTES = 32  # RFC 8954 section 2.1


class OcspFailure(StrEnum):
    """OCSPResponseStatus values other than successful (RFC 6960 section 4.2.1)."""

    MALFORMED_REQUEST = "malformed_request"
    INTERNAL_ERROR = "internal_error"
    TRY_LATER = "try_later"
    SIG_REQUIRED = "sign_required"
    UNAUTHORIZED = "unauthorized"


class OcspRequestError(Exception):
    """The request cannot be answered with certificate statuses; carries the response status to send."""

    def __init__(self, status: OcspFailure) -> None:
        super().__init__(status.value)
        self.status = status


@dataclass(frozen=True)
class CertQuery:
    """One certificate asked about: the CertID as received (echoed back verbatim) and its parts."""

    cert_id: ocsp.CertId
    hash_algorithm: str  # "sha1" | "sha256" | ...
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int


@dataclass(frozen=True)
class ParsedRequest:
    queries: tuple[CertQuery, ...]
    nonce: bytes | None  # the nonce extension's value, echoed in the response (RFC 8954)


def parse_request(der: bytes) -> ParsedRequest:
    """Decode an OCSPRequest; any decoding problem is ``malformedRequest``."""
    try:
        request = ocsp.OCSPRequest.load(der, strict=True)
        tbs = request["tbs_request"]
        queries = []
        for single in tbs["request_list"]:
            cert_id = single["req_cert"]
            queries.append(
                CertQuery(
                    cert_id=cert_id,
                    hash_algorithm=cert_id["hash_algorithm"]["algorithm"].native,
                    issuer_name_hash=cert_id["issuer_name_hash"].native,
                    issuer_key_hash=cert_id["issuer_key_hash"].native,
                    serial=cert_id["serial_number"].native,
                )
            )
        nonce = None
        for ext in tbs["request_extensions"]:
            if ext["extn_id"].native == "nonce":
                nonce = ext["extn_value"].parsed.native
            elif ext["critical"].native:
                # Section 4.4: unrecognised critical extensions cannot be honoured.
                raise OcspRequestError(OcspFailure.MALFORMED_REQUEST)
    except OcspRequestError:
        raise
    except Exception as exc:  # asn1crypto parses lazily and raises many types on hostile input
        raise OcspRequestError(OcspFailure.MALFORMED_REQUEST) from exc
    if not queries or len(queries) > MAX_REQUESTS:
        raise OcspRequestError(OcspFailure.MALFORMED_REQUEST)
    if nonce is not None and not (isinstance(nonce, bytes) and 1 <= len(nonce) <= MAX_NONCE_BYTES):
        raise OcspRequestError(OcspFailure.MALFORMED_REQUEST)
    return ParsedRequest(tuple(queries), nonce)


def issuer_hashes(issuer: x509.Certificate, algorithm: str) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CA certificate (section 4.1.1)."""
    name_hash = hashlib.new(algorithm, issuer.subject.dump()).digest()
    key_hash = hashlib.new(algorithm, issuer.public_key["public_key"].contents[1:]).digest()
    return name_hash, key_hash


@dataclass(frozen=True)
class CertStatus:
    """good, revoked (time + CRLReason name) or unknown, for one query."""

    state: str  # "good" | "revoked" | "unknown"
    revoked_at: datetime | None = None
    reason: str | None = None


def _cert_status(status: CertStatus) -> ocsp.CertStatus:
    if status.state == "good":
        return ocsp.CertStatus(name="good", value=ocsp.StatusGood())
    if status.state == "unknown":
        return ocsp.CertStatus(name="unknown", value=ocsp.StatusUnknown())
    assert status.revoked_at is not None
    info: dict[str, object] = {"revocation_time": status.revoked_at.astimezone(UTC).replace(microsecond=0)}
    if status.reason and status.reason != "unspecified":
        info["revocation_reason"] = status.reason
    return ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(info))


def build_response(
    *,
    responder_key: SigningKey,
    responder_cert: x509.Certificate,
    answers: Sequence[tuple[CertQuery, CertStatus]],
    produced_at: datetime,
    this_update: datetime,
    next_update: datetime,
    nonce: bytes | None,
) -> bytes:
    """A signed BasicOCSPResponse wrapped in a successful OCSPResponse (sections 4.2.1, 4.2.2)."""
    key_hash = hashlib.sha1(responder_cert.public_key["public_key"].contents[1:]).digest()  # noqa: S324
    responses = [
        {
            "cert_id": query.cert_id,
            "cert_status": _cert_status(status),
            "this_update": this_update.astimezone(UTC).replace(microsecond=0),
            "next_update": next_update.astimezone(UTC).replace(microsecond=0),
        }
        for query, status in answers
    ]
    data: dict[str, object] = {
        "version": "v1",
        "responder_id": ocsp.ResponderId(name="by_key", value=key_hash),
        "produced_at": produced_at.astimezone(UTC).replace(microsecond=0),
        "responses": responses,
    }
    if nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    tbs = ocsp.ResponseData(data)
    algo = signature_algorithm(responder_key.algorithm)
    basic = ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": tbs,
            "signature_algorithm": algo,
            "signature": responder_key.sign(tbs.dump()),
            "certs": [responder_cert],
        }
    )
    response = ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    )
    result: bytes = response.dump()
    return result


def failure_response(status: OcspFailure) -> bytes:
    """An unsigned OCSPResponse carrying only an error status (section 4.2.1)."""
    result: bytes = ocsp.OCSPResponse({"response_status": status.value}).dump()
    return result
