"""Creating the CA hierarchy and putting the issuing CA under an external CA (service layer).

Root CA (self-signed, long-lived, signs only subordinate CA certificates and its CRL) -> issuing CA
(pathLenConstraint 0; signs end-entity, TSA and OCSP responder certificates and its CRL) -> TSA
certificate (EKU timeStamping only, critical: RFC 3161 section 2.3) and delegated OCSP responder
certificate (EKU OCSPSigning + id-pkix-ocsp-nocheck: RFC 6960 section 4.2.2.2).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from asn1crypto import keys as asn1_keys
from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealpact.audit import Actor
from sealpact.context import RequestContext
from sealpact.db import new_id
from sealpact.pki import builders
from sealpact.pki.builders import CertificateProfile
from sealpact.pki.errors import ImportRejected, InvalidState
from sealpact.pki.models import IssuedCertificate, PkiAuthority
from sealpact.pki.policy import CA_POLICY_OID, TSA_POLICY_OID
from sealpact.pki.signing_key import KeyAlgorithm, SigningKey

if TYPE_CHECKING:
    from sealpact.pki.service import PkiService

ROOT, ISSUING, TSA, OCSP = "root", "issuing", "tsa", "ocsp"
ROOT_VALIDITY = timedelta(days=20 * 365 + 5)
ISSUING_VALIDITY = timedelta(days=10 * 365 + 2)
TSA_VALIDITY = timedelta(days=5 * 365 + 1)
OCSP_VALIDITY = timedelta(days=365)
OCSP_RENEW_BEFORE = timedelta(days=30)
BACKDATE = timedelta(minutes=5)  # tolerate relying parties whose clocks run a little slow


def serial_hex(serial: int) -> str:
    return format(serial, "x")


def chain_pem(chain: list[x509.Certificate]) -> str:
    return "".join(builders.to_pem("CERTIFICATE", c.dump()).decode() for c in chain)


def ensure_hierarchy(
    svc: PkiService, *, algorithm: KeyAlgorithm | None = None, ctx: RequestContext | None = None
) -> list[str]:
    """Create whatever part of root / issuing CA / TSA / OCSP responder is missing; idempotent.

    Also renews the OCSP responder certificate when it is near expiry, and makes sure both CAs have a
    CRL. Returns the names of what was created or renewed.
    """
    algorithm = algorithm or KeyAlgorithm(svc.settings.pki_key_algorithm)
    ctx = ctx or RequestContext.cli()
    try:
        done = _ensure_authorities(svc, algorithm, ctx)
    except IntegrityError:
        # Another process created the same authority at the same moment (unique name): use theirs.
        done = _ensure_authorities(svc, algorithm, ctx)
    from sealpact.pki.status import ensure_crls

    ensure_crls(svc)
    return done


def _ensure_authorities(svc: PkiService, algorithm: KeyAlgorithm, ctx: RequestContext) -> list[str]:
    actor = Actor.system()
    done: list[str] = []
    with svc.tx() as session:
        # Row locks (PostgreSQL) keep two workers from renewing the responder certificate twice.
        existing = {row.name: row for row in session.scalars(select(PkiAuthority).with_for_update())}
        now = svc.clock.now()
        if ROOT not in existing:
            existing[ROOT] = _create_root(svc, session, algorithm, now, ctx, actor)
            done.append(ROOT)
        if ISSUING not in existing:
            existing[ISSUING] = _create_issuing(svc, session, existing[ROOT], algorithm, now, ctx, actor)
            done.append(ISSUING)
        if TSA not in existing:
            _create_leaf_authority(svc, session, TSA, existing[ISSUING], algorithm, now, ctx, actor)
            done.append(TSA)
        ocsp_row = existing.get(OCSP)
        if ocsp_row is None:
            _create_leaf_authority(svc, session, OCSP, existing[ISSUING], algorithm, now, ctx, actor)
            done.append(OCSP)
        elif x509.Certificate.load(ocsp_row.certificate).not_valid_after - now < OCSP_RENEW_BEFORE:
            _reissue_leaf_authority(svc, session, ocsp_row, existing[ISSUING], now, ctx, actor)
            done.append(OCSP + " (renewed)")
    return done


def _ca_name(svc: PkiService, label: str) -> x509.Name:
    org = svc.settings.pki_organization
    return builders.build_name(
        common_name=f"{org} {label}", organization=org, country=svc.settings.pki_country
    )


def _create_root(
    svc: PkiService,
    session: Session,
    algorithm: KeyAlgorithm,
    now: datetime,
    ctx: RequestContext,
    actor: Actor,
) -> PkiAuthority:
    key = svc.keys.generate(session, purpose=ROOT, algorithm=algorithm)
    spki = asn1_keys.PublicKeyInfo.load(key.public_key_der())
    name = _ca_name(svc, "Root CA")
    # RFC 5280 section 4.2.1.1: AKI may be omitted in a self-signed certificate; we include it
    # (= the SKI) because some validators use it to pick the trust anchor.
    cert = builders.build_certificate(
        issuer_key=key,
        issuer_name=name,
        issuer_key_id=builders.key_identifier(spki),
        subject=name,
        subject_spki=spki,
        serial=svc.new_serial(session),
        not_before=now - BACKDATE,
        not_after=now + ROOT_VALIDITY,
        profile=CertificateProfile(is_ca=True, key_usage=frozenset({"key_cert_sign", "crl_sign"})),
    )
    row = PkiAuthority(
        id=new_id(),
        name=ROOT,
        role=ROOT,
        key_id=key.key_id,
        certificate=cert.dump(),
        chain_pem="",
        crl_number=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    svc.record_issued(session, row, cert, "ca")
    svc.audit_event(session, ctx, actor, "pki.ca.created", serial_hex(cert.serial_number), role=ROOT)
    return row


def _issuing_profile(svc: PkiService) -> CertificateProfile:
    return CertificateProfile(
        is_ca=True,
        path_length=0,
        key_usage=frozenset({"key_cert_sign", "crl_sign"}),
        policies=("any_policy",),
        ca_issuers_url=svc.url(f"ca/{ROOT}.crt"),
        crl_url=svc.url(f"crl/{ROOT}.crl"),
    )


def _create_issuing(
    svc: PkiService,
    session: Session,
    root: PkiAuthority,
    algorithm: KeyAlgorithm,
    now: datetime,
    ctx: RequestContext,
    actor: Actor,
) -> PkiAuthority:
    key = svc.keys.generate(session, purpose=ISSUING, algorithm=algorithm)
    root_key, root_cert = svc.signer(session, root)
    cert = builders.build_certificate(
        issuer_key=root_key,
        issuer_name=root_cert.subject,
        issuer_key_id=root_cert.key_identifier,
        subject=_ca_name(svc, "Issuing CA"),
        subject_spki=asn1_keys.PublicKeyInfo.load(key.public_key_der()),
        serial=svc.new_serial(session),
        not_before=now - BACKDATE,
        not_after=min(now + ISSUING_VALIDITY, root_cert.not_valid_after),
        profile=_issuing_profile(svc),
    )
    row = PkiAuthority(
        id=new_id(),
        name=ISSUING,
        role=ISSUING,
        key_id=key.key_id,
        certificate=cert.dump(),
        chain_pem=builders.to_pem("CERTIFICATE", root.certificate).decode(),
        crl_number=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    svc.record_issued(session, root, cert, "ca")
    svc.audit_event(session, ctx, actor, "pki.ca.created", serial_hex(cert.serial_number), role=ISSUING)
    return row


def _leaf_profile(svc: PkiService, role: str) -> tuple[x509.Name, CertificateProfile, timedelta]:
    org = svc.settings.pki_organization
    if role == TSA:
        # RFC 3161 section 2.3: exactly one EKU, id-kp-timeStamping, and the extension critical.
        profile = CertificateProfile(
            key_usage=frozenset({"digital_signature", "non_repudiation"}),
            extended_key_usage=("time_stamping",),
            eku_critical=True,
            policies=(TSA_POLICY_OID,),
            ocsp_url=svc.url("ocsp"),
            ca_issuers_url=svc.url(f"ca/{ISSUING}.crt"),
            crl_url=svc.url(f"crl/{ISSUING}.crl"),
        )
        label, validity = "Time Stamping Authority", TSA_VALIDITY
    else:
        # RFC 6960 section 4.2.2.2: delegated responder, EKU id-kp-OCSPSigning; 4.2.2.2.1 nocheck.
        profile = CertificateProfile(
            key_usage=frozenset({"digital_signature"}),
            extended_key_usage=("ocsp_signing",),
            policies=(CA_POLICY_OID,),
            ocsp_no_check=True,
            ca_issuers_url=svc.url(f"ca/{ISSUING}.crt"),
        )
        label, validity = "OCSP Responder", OCSP_VALIDITY
    name = builders.build_name(
        common_name=f"{org} {label}", organization=org, country=svc.settings.pki_country
    )
    return name, profile, validity


def _issue_leaf_cert(
    svc: PkiService, session: Session, role: str, issuing: PkiAuthority, key: SigningKey, now: datetime
) -> x509.Certificate:
    issuer_key, issuer_cert = svc.signer(session, issuing)
    name, profile, validity = _leaf_profile(svc, role)
    return builders.build_certificate(
        issuer_key=issuer_key,
        issuer_name=issuer_cert.subject,
        issuer_key_id=issuer_cert.key_identifier,
        subject=name,
        subject_spki=asn1_keys.PublicKeyInfo.load(key.public_key_der()),
        serial=svc.new_serial(session),
        not_before=now - BACKDATE,
        not_after=min(now + validity, issuer_cert.not_valid_after),
        profile=profile,
    )


def _create_leaf_authority(
    svc: PkiService,
    session: Session,
    role: str,
    issuing: PkiAuthority,
    algorithm: KeyAlgorithm,
    now: datetime,
    ctx: RequestContext,
    actor: Actor,
) -> PkiAuthority:
    key = svc.keys.generate(session, purpose=role, algorithm=algorithm)
    cert = _issue_leaf_cert(svc, session, role, issuing, key, now)
    row = PkiAuthority(
        id=new_id(),
        name=role,
        role=role,
        key_id=key.key_id,
        certificate=cert.dump(),
        chain_pem=chain_pem(svc.chain_of(issuing)),
        crl_number=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    svc.record_issued(session, issuing, cert, role)
    svc.audit_event(session, ctx, actor, "pki.certificate.issued", serial_hex(cert.serial_number), kind=role)
    return row


def _reissue_leaf_authority(
    svc: PkiService,
    session: Session,
    row: PkiAuthority,
    issuing: PkiAuthority,
    now: datetime,
    ctx: RequestContext,
    actor: Actor,
    *,
    new_key: bool = False,
) -> None:
    old_serial = serial_hex(x509.Certificate.load(row.certificate).serial_number)
    key = (
        svc.keys.generate(session, purpose=row.role, algorithm=svc.keys.load(session, row.key_id).algorithm)
        if new_key
        else svc.keys.load(session, row.key_id)
    )
    cert = _issue_leaf_cert(svc, session, row.role, issuing, key, now)
    row.key_id = key.key_id
    row.certificate = cert.dump()
    row.chain_pem = chain_pem(svc.chain_of(issuing))
    row.updated_at = now
    old = session.scalars(select(IssuedCertificate).where(IssuedCertificate.serial == old_serial)).first()
    svc.record_issued(session, issuing, cert, row.role, replaces_id=old.id if old else None)
    svc.audit_event(
        session, ctx, actor, "pki.certificate.issued", serial_hex(cert.serial_number), kind=row.role
    )


def issuing_csr(svc: PkiService, *, algorithm: KeyAlgorithm | None = None) -> bytes:
    """A PKCS#10 request (PEM) for a new issuing CA key, to be signed by an external CA.

    The key is kept pending until :meth:`import_issuing` installs the signed certificate; asking again
    returns a request for the same pending key.
    """
    with svc.tx() as session:
        issuing = svc.authority(session, ISSUING, lock=True)
        _refuse_if_in_use(session, issuing)
        if issuing.pending_key_id is None:
            current = svc.keys.load(session, issuing.key_id)
            key = svc.keys.generate(session, purpose=ISSUING, algorithm=algorithm or current.algorithm)
            issuing.pending_key_id = key.key_id
        else:
            key = svc.keys.load(session, issuing.pending_key_id)
        subject = x509.Certificate.load(issuing.certificate).subject
        request = builders.build_csr(key=key, subject=subject)
    return builders.to_pem("CERTIFICATE REQUEST", request.dump())


def _refuse_if_in_use(session: Session, issuing: PkiAuthority) -> None:
    # Replacing the issuing CA key would orphan the certificates it issued (their CRL and OCSP
    # answers are signed under the issuing CA); external subordination is a set-up step.
    used = session.scalar(
        select(IssuedCertificate.id).where(
            IssuedCertificate.issuer_id == issuing.id, IssuedCertificate.kind == "end_entity"
        )
    )
    if used is not None:
        raise InvalidState("end-entity certificates exist under the current issuing CA; cannot replace it")


def import_issuing(
    svc: PkiService,
    certificate: bytes,
    chain: bytes,
    *,
    ctx: RequestContext | None = None,
    actor: Actor | None = None,
) -> list[str]:
    """Install the external CA's certificate for the pending issuing key, after checking it.

    Checks: the certificate is for the pending key; it is a CA certificate allowed to sign
    certificates and CRLs; it is valid now; each link of ``chain`` (nearest issuer first) signed the
    one below and is a CA; the chain ends in a self-signed certificate. Then the TSA and OCSP
    certificates are re-issued under the new issuing CA. Refused once end-entity certificates exist
    under the current issuing CA (they would be orphaned).
    """
    ctx, actor = ctx or RequestContext.cli(), actor or Actor.system()
    cert = builders.load_certificate(certificate)
    parents = builders.load_certificates(chain)
    if not parents:
        raise ImportRejected("the chain of the external CA is empty")
    now = svc.clock.now()
    with svc.tx() as session:
        issuing = svc.authority(session, ISSUING, lock=True)
        _refuse_if_in_use(session, issuing)
        if issuing.pending_key_id is None:
            raise InvalidState("no pending issuing CA key: run `sealpact ca csr` first")
        pending = svc.keys.load(session, issuing.pending_key_id)
        _check_external_chain(cert, parents, pending.public_key_der(), now)
        old_cert = x509.Certificate.load(issuing.certificate)
        old_row = session.scalars(
            select(IssuedCertificate).where(IssuedCertificate.serial == serial_hex(old_cert.serial_number))
        ).first()
        if old_row is not None and old_row.status == "good":
            svc.mark_revoked(session, old_row, "superseded", ctx, actor)
        for row in session.scalars(
            select(IssuedCertificate).where(
                IssuedCertificate.issuer_id == issuing.id, IssuedCertificate.status == "good"
            )
        ):
            svc.mark_revoked(session, row, "superseded", ctx, actor)
        issuing.key_id, issuing.pending_key_id = pending.key_id, None
        issuing.certificate = cert.dump()
        issuing.chain_pem = chain_pem(parents)
        issuing.updated_at = now
        session.flush()
        svc.audit_event(
            session,
            ctx,
            actor,
            "pki.ca.imported",
            serial_hex(cert.serial_number),
            role=ISSUING,
            issuer=cert.issuer.human_friendly[:200],
        )
        for role in (TSA, OCSP):
            _reissue_leaf_authority(
                svc, session, svc.authority(session, role, lock=True), issuing, now, ctx, actor, new_key=False
            )
        root = svc.authority(session, ROOT, lock=True)
        from sealpact.pki.status import regenerate_crl

        regenerate_crl(svc, session, issuing)
        regenerate_crl(svc, session, root)
    return [ISSUING, TSA, OCSP]


def _is_ca(cert: x509.Certificate, *, sign_crl: bool) -> bool:
    bc = cert.basic_constraints_value
    usage = cert.key_usage_value
    if bc is None or not bc["ca"].native:
        return False
    if usage is None:
        return True  # RFC 5280 section 4.2.1.3: no keyUsage extension means no restriction
    needed = {"key_cert_sign", "crl_sign"} if sign_crl else {"key_cert_sign"}
    return needed <= set(usage.native)


def _check_external_chain(
    cert: x509.Certificate, parents: list[x509.Certificate], pending_spki: bytes, now: datetime
) -> None:
    if cert.public_key.dump() != asn1_keys.PublicKeyInfo.load(pending_spki).dump():
        raise ImportRejected("the certificate is not for the pending issuing CA key")
    if not _is_ca(cert, sign_crl=True):
        raise ImportRejected("the certificate is not a CA certificate allowed to sign certificates and CRLs")
    links = [cert, *parents]
    for child in links:
        if not child.not_valid_before <= now <= child.not_valid_after:
            raise ImportRejected("a certificate in the chain is not valid now")
    for child, parent in itertools.pairwise(links):
        if child.issuer != parent.subject or not _is_ca(parent, sign_crl=False):
            raise ImportRejected("the chain is not in order (nearest issuer first) or a link is not a CA")
        if not builders.certificate_signed_by(child, parent.public_key.dump()):
            raise ImportRejected("a signature in the chain does not verify")
    anchor = links[-1]
    if anchor.issuer != anchor.subject or not builders.certificate_signed_by(
        anchor, anchor.public_key.dump()
    ):
        raise ImportRejected("the chain must end with the external root (a self-signed certificate)")
