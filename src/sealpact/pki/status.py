"""Revocation status: CRLs per CA (RFC 5280 section 5) and the OCSP responder (RFC 6960).

CRLs are complete CRLs (no deltas), re-signed whenever a certificate's status changes and again once
half of their validity has passed (on request, and by ``sealpact ca crl`` / a scheduled job), so a
fresh CRL always exists well before nextUpdate. The cRLNumber only grows: the authority row is locked
while it is incremented (RFC 5280 section 5.2.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact.pki import builders, ocsp
from sealpact.pki.errors import UnknownAuthority
from sealpact.pki.models import IssuedCertificate, PkiAuthority

if TYPE_CHECKING:
    from sealpact.pki.service import PkiService

CA_ROLES = ("root", "issuing")
_OCSP_HASHES = frozenset({"sha1", "sha256", "sha384", "sha512"})


@dataclass(frozen=True)
class CrlDocument:
    der: bytes
    number: int
    this_update: datetime
    next_update: datetime


def _validity(service: PkiService, role: str) -> timedelta:
    if role == "root":
        return timedelta(days=service.settings.pki_root_crl_validity_days)
    return timedelta(hours=service.settings.pki_crl_validity_hours)


def _document(row: PkiAuthority) -> CrlDocument:
    assert row.crl is not None and row.crl_this_update is not None and row.crl_next_update is not None
    return CrlDocument(row.crl, row.crl_number, row.crl_this_update, row.crl_next_update)


def regenerate_crl(service: PkiService, session: Session, authority: PkiAuthority) -> CrlDocument:
    """Sign a new CRL for ``authority`` (which the caller has locked) listing every revoked or held cert.

    Entries stay on the CRL after the certificates expire, so a signature validated years later can
    still be checked against the CRL archived with it (ETSI EN 319 102-1 long-term validation).
    """
    key = service.keys.load(session, authority.key_id)
    cert = x509.Certificate.load(authority.certificate)
    rows = session.scalars(
        select(IssuedCertificate).where(
            IssuedCertificate.issuer_id == authority.id, IssuedCertificate.status.in_(("revoked", "on_hold"))
        )
    )
    entries = [
        builders.RevokedEntry(int(row.serial, 16), row.revoked_at, row.revocation_reason)
        for row in rows
        if row.revoked_at is not None
    ]
    now = service.clock.now()
    number = authority.crl_number + 1
    next_update = now + _validity(service, authority.role)
    crl = builders.build_crl(
        issuer_key=key,
        issuer_name=cert.subject,
        issuer_key_id=cert.key_identifier or builders.key_identifier(cert.public_key),
        crl_number=number,
        this_update=now,
        next_update=next_update,
        revoked=entries,
    )
    authority.crl = crl.dump()
    authority.crl_number = number
    authority.crl_this_update = now.replace(microsecond=0)
    authority.crl_next_update = next_update.replace(microsecond=0)
    authority.updated_at = now
    session.flush()
    return _document(authority)


def _stale(row: PkiAuthority, now: datetime) -> bool:
    if row.crl is None or row.crl_this_update is None or row.crl_next_update is None:
        return True
    half = (row.crl_next_update - row.crl_this_update) / 2
    return now >= row.crl_this_update + half


def current_crl(service: PkiService, name: str) -> CrlDocument:
    """The CRL of CA ``name``, re-signed first if it has passed half its validity."""
    with service.sessions() as session:
        row = service.authority(session, name)
        if row.role not in CA_ROLES:
            raise UnknownAuthority(f"{name!r} does not publish a CRL")
        if not _stale(row, service.clock.now()):
            return _document(row)
    with service.tx() as session:
        row = service.authority(session, name, lock=True)
        if _stale(row, service.clock.now()):  # another request may have refreshed it meanwhile
            return regenerate_crl(service, session, row)
        return _document(row)


def refresh_crls(service: PkiService, *, force: bool = False) -> list[str]:
    refreshed = []
    for name in CA_ROLES:
        with service.tx() as session:
            row = service.authority(session, name, lock=True)
            if force or _stale(row, service.clock.now()):
                regenerate_crl(service, session, row)
                refreshed.append(name)
    return refreshed


def ensure_crls(service: PkiService) -> None:
    for name in CA_ROLES:
        with service.tx() as session:
            row = service.authority(session, name, lock=True)
            if row.crl is None:
                regenerate_crl(service, session, row)


@dataclass(frozen=True)
class OcspAnswer:
    """An encoded OCSPResponse plus what the HTTP layer needs for caching (RFC 5019 section 6)."""

    body: bytes
    successful: bool
    this_update: datetime | None = None
    next_update: datetime | None = None
    nonce: bool = False


def answer_ocsp(service: PkiService, request_der: bytes) -> OcspAnswer:
    """Answer an OCSPRequest for certificates of the issuing CA (RFC 6960 section 2.2).

    Statuses: good; revoked with time and reason (a held certificate is revoked, reason
    certificateHold); unknown for a serial this CA never issued. A request about another issuer gets
    ``unauthorized`` (section 2.3); undecodable input gets ``malformedRequest``.
    """
    try:
        parsed = ocsp.parse_request(request_der)
    except ocsp.OcspRequestError as exc:
        return OcspAnswer(ocsp.failure_response(exc.status), successful=False)
    answers = []
    # One read-only session for the responder identity and the lookups (this is the hot path).
    with service.sessions() as session:
        responder = service.authority(session, "ocsp")
        issuing = service.authority(session, "issuing")
        key = service.keys.load(session, responder.key_id)
        responder_cert = x509.Certificate.load(responder.certificate)
        issuer_cert = x509.Certificate.load(issuing.certificate)
        for query in parsed.queries:
            # Section 2.3: a CA we do not answer for, or a hash we do not support -> unauthorized.
            if query.hash_algorithm not in _OCSP_HASHES:
                return OcspAnswer(ocsp.failure_response(ocsp.OcspFailure.UNAUTHORIZED), successful=False)
            name_hash, key_hash = ocsp.issuer_hashes(issuer_cert, query.hash_algorithm)
            if name_hash != query.issuer_name_hash or key_hash != query.issuer_key_hash:
                return OcspAnswer(ocsp.failure_response(ocsp.OcspFailure.UNAUTHORIZED), successful=False)
        for query in parsed.queries:
            row = session.scalars(
                select(IssuedCertificate).where(
                    IssuedCertificate.serial == _serial_key(query.serial),
                    IssuedCertificate.issuer_id == issuing.id,
                )
            ).first()
            if row is None:
                answers.append((query, ocsp.CertStatus("unknown")))
            elif row.status == "good":
                answers.append((query, ocsp.CertStatus("good")))
            else:
                answers.append((query, ocsp.CertStatus("revoked", row.revoked_at, row.revocation_reason)))
    now = service.clock.now().replace(microsecond=0)
    next_update = now + timedelta(seconds=service.settings.pki_ocsp_validity_seconds)
    body = ocsp.build_response(
        responder_key=key,
        responder_cert=responder_cert,
        answers=answers,
        produced_at=now,
        this_update=now,
        next_update=next_update,
        nonce=parsed.nonce,
    )
    return OcspAnswer(
        body, successful=True, this_update=now, next_update=next_update, nonce=parsed.nonce is not None
    )


def _serial_key(serial: int) -> str:
    # Stored serials are positive; a zero or negative one in a request matches nothing.
    return format(serial, "x") if serial > 0 else "-"
