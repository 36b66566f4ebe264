"""PKI use cases: the CA hierarchy, end-entity issuance, revocation, renewal and re-key, external CA import.

Transactions live here; building and signing structures is delegated to the pure modules
(:mod:`sealpact.pki.builders`, :mod:`sealpact.pki.ocsp`). CRL and OCSP serving is in
:mod:`sealpact.pki.status`. Public entry point: ``runtime.pki`` (a :class:`PkiService`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from asn1crypto import keys as asn1_keys
from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact import audit
from sealpact.audit import Actor
from sealpact.config import PkiKeyStoreKind
from sealpact.context import RequestContext
from sealpact.db import new_id, transaction
from sealpact.pki import builders, hierarchy
from sealpact.pki.builders import CertificateProfile
from sealpact.pki.errors import (
    CertificateNotFound,
    HierarchyMissing,
    InvalidRequest,
    InvalidState,
    UnknownAuthority,
)
from sealpact.pki.hierarchy import BACKDATE, ISSUING, OCSP, ROOT, TSA, chain_pem, serial_hex
from sealpact.pki.keys import PSEUDONYM_PURPOSE, HsmToken, PkiKeyStore
from sealpact.pki.models import IssuedCertificate, PkiAuthority
from sealpact.pki.policy import (
    EKU_DOCUMENT_SIGNING,
    SubjectIdentity,
    SubjectKind,
    derive_pseudonym,
)
from sealpact.pki.signing_key import KeyAlgorithm, SigningKey

if TYPE_CHECKING:
    from sealpact.pki.pkcs11 import Pkcs11Token
    from sealpact.pki.status import CrlDocument, OcspAnswer
    from sealpact.runtime import Runtime

# Reasons a certificate may be revoked for (RFC 5280 section 5.3.1 names, as asn1crypto spells them).
REVOCATION_REASONS = frozenset(
    {
        "unspecified",
        "key_compromise",
        "affiliation_changed",
        "superseded",
        "cessation_of_operation",
        "certificate_hold",
    }
)


@dataclass(frozen=True)
class IssuedInfo:
    """What a caller gets back after issuance: the certificate and where it sits."""

    serial: str  # lowercase hex
    certificate: x509.Certificate
    chain: list[x509.Certificate]  # issuing CA upward, root last
    not_before: datetime
    not_after: datetime

    @property
    def der(self) -> bytes:
        result: bytes = self.certificate.dump()
        return result


@dataclass(frozen=True)
class CertificateRecord:
    serial: str
    kind: str
    status: str  # good | revoked | on_hold
    revoked_at: datetime | None
    reason: str | None
    not_before: datetime
    not_after: datetime
    der: bytes


def parse_serial(text: str) -> int:
    """A serial number given by a user: hex, with optional colons or ``0x``."""
    cleaned = text.strip().lower().replace(":", "").removeprefix("0x")
    try:
        value = int(cleaned, 16)
    except ValueError as exc:
        raise InvalidRequest("a serial number is a hexadecimal number") from exc
    if value <= 0 or value.bit_length() > 160:
        raise InvalidRequest("serial number out of range")
    return value


class PkiService:
    """The platform PKI. One per process (``runtime.pki``); keys are unwrapped once and cached."""

    def __init__(self, runtime: Runtime, *, token: HsmToken | None = None) -> None:
        self._runtime = runtime
        self.settings = runtime.settings
        self.clock = runtime.clock
        self.sessions = runtime.sessions
        self._token = token
        self._lock = threading.Lock()
        self._store: PkiKeyStore | None = None
        self._owned_token: Pkcs11Token | None = None

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def keys(self) -> PkiKeyStore:
        with self._lock:
            if self._store is None:
                token = self._token
                kind = self.settings.pki_key_store
                if kind is PkiKeyStoreKind.PKCS11 and token is None:
                    token = self._owned_token = _open_configured_token(self._runtime)
                self._store = PkiKeyStore(kind, self._runtime.keys, self.clock, token)
            return self._store

    def close(self) -> None:
        """Close the PKCS#11 session this service opened, if any (``Runtime.close`` calls it)."""
        with self._lock:
            if self._owned_token is not None:
                self._owned_token.close()
                self._owned_token, self._store = None, None

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    def url(self, path: str) -> str:
        return f"{self.settings.public_url}/pki/{path}"

    @staticmethod
    def authority(session: Session, name: str, *, lock: bool = False) -> PkiAuthority:
        query = select(PkiAuthority).where(PkiAuthority.name == name)
        if lock:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            if name in (ROOT, ISSUING, TSA, OCSP):
                raise HierarchyMissing("The CA hierarchy does not exist yet: run `sealpact ca init`.")
            raise UnknownAuthority(f"no certificate authority named {name!r}")
        return row

    @staticmethod
    def chain_of(row: PkiAuthority) -> list[x509.Certificate]:
        """The authority's certificate followed by its issuers, nearest first."""
        chain = [x509.Certificate.load(row.certificate)]
        if row.chain_pem:
            chain.extend(builders.load_certificates(row.chain_pem.encode()))
        return chain

    def signer(self, session: Session, row: PkiAuthority) -> tuple[SigningKey, x509.Certificate]:
        return self.keys.load(session, row.key_id), x509.Certificate.load(row.certificate)

    def audit_event(
        self, session: Session, ctx: RequestContext, actor: Actor, action: str, serial: str, **details: object
    ) -> None:
        audit.record(
            session,
            ctx,
            self.clock,
            action=action,
            actor=actor,
            object_type="certificate",
            object_id=serial,
            details=dict(details),
        )

    # -- hierarchy (see sealpact.pki.hierarchy) ------------------------------------------------------

    def ensure_hierarchy(
        self, *, algorithm: KeyAlgorithm | None = None, ctx: RequestContext | None = None
    ) -> list[str]:
        """Create whatever part of root / issuing CA / TSA / OCSP responder is missing; idempotent.

        Also renews the OCSP responder certificate when it is near expiry, and makes sure both CAs have a
        CRL. Returns the names of what was created or renewed.
        """
        return hierarchy.ensure_hierarchy(self, algorithm=algorithm, ctx=ctx)

    def issuing_csr(self, *, algorithm: KeyAlgorithm | None = None) -> bytes:
        """A PKCS#10 request (PEM) for a new issuing CA key, for an external CA to sign."""
        return hierarchy.issuing_csr(self, algorithm=algorithm)

    def import_issuing(
        self,
        certificate: bytes,
        chain: bytes,
        *,
        ctx: RequestContext | None = None,
        actor: Actor | None = None,
    ) -> list[str]:
        """Install an external CA's certificate for the pending issuing CA key, after checking it."""
        return hierarchy.import_issuing(self, certificate, chain, ctx=ctx, actor=actor)

    def record_issued(
        self,
        session: Session,
        issuer: PkiAuthority,
        cert: x509.Certificate,
        kind: str,
        *,
        identity: SubjectIdentity | None = None,
        replaces_id: str | None = None,
    ) -> IssuedCertificate:
        row = IssuedCertificate(
            id=new_id(),
            serial=serial_hex(cert.serial_number),
            issuer_id=issuer.id,
            kind=kind,
            certificate=cert.dump(),
            not_before=cert.not_valid_before,
            not_after=cert.not_valid_after,
            status="good",
            identity=json.dumps(identity.to_json(), ensure_ascii=False) if identity else None,
            replaces_id=replaces_id,
            created_at=self.clock.now(),
        )
        session.add(row)
        return row

    def new_serial(self, session: Session) -> int:
        # 128 random bits collide with negligible probability; the unique index makes it impossible.
        while True:
            serial = builders.random_serial()
            taken = session.scalar(
                select(IssuedCertificate.id).where(IssuedCertificate.serial == serial_hex(serial))
            )
            if taken is None:
                return serial

    def certificate_der(self, name: str) -> bytes:
        """The current certificate of authority ``name`` (root, issuing; tsa and ocsp too), DER."""
        with self.tx() as session:
            return self.authority(session, name).certificate

    def export_root(self) -> bytes:
        """The root certificate, PEM: what a relying party adds to its trust store."""
        return builders.to_pem("CERTIFICATE", self.certificate_der(ROOT))

    def export_chain(self) -> bytes:
        """The issuing CA certificate and every issuer above it (root last), PEM."""
        with self.tx() as session:
            chain = self.chain_of(self.authority(session, ISSUING))
        return chain_pem(chain).encode()

    def tsa_identity(self) -> tuple[SigningKey, list[x509.Certificate]]:
        """The TSA's signing key and its chain: TSA certificate first, then issuing CA, root last."""
        with self.tx() as session:
            row = self.authority(session, TSA)
            return self.keys.load(session, row.key_id), self.chain_of(row)

    # -- end-entity certificates ----------------------------------------------------------------------

    def pseudonym(self, id_type: str, id_number: str) -> str:
        """The pseudonymous subject serialNumber for an individual (see :func:`derive_pseudonym`)."""
        with self.tx() as session:
            platform_key = self.keys.secret(session, PSEUDONYM_PURPOSE)
        return derive_pseudonym(platform_key, id_type, id_number)

    def _subject_for(self, identity: SubjectIdentity) -> x509.Name:
        if identity.kind is SubjectKind.ENTERPRISE:
            return builders.build_name(
                common_name=identity.name,
                organization=identity.name,
                organization_identifier=f"NTRCN-{identity.unique_id}",
                country="CN",
            )
        return builders.build_name(common_name=identity.name, serial_number=identity.unique_id, country="CN")

    def _ee_profile(self, identity: SubjectIdentity) -> CertificateProfile:
        return CertificateProfile(
            key_usage=frozenset({"digital_signature", "non_repudiation"}),
            # RFC 9336 documentSigning; emailProtection because Adobe Acrobat accepts it for signing.
            extended_key_usage=(EKU_DOCUMENT_SIGNING, "email_protection"),
            policies=(identity.policy_oid,),
            ocsp_url=self.url("ocsp"),
            ca_issuers_url=self.url(f"ca/{ISSUING}.crt"),
            crl_url=self.url(f"crl/{ISSUING}.crl"),
            email=identity.email,
        )

    def _issue_ee(
        self,
        session: Session,
        identity: SubjectIdentity,
        spki: asn1_keys.PublicKeyInfo,
        validity_days: int | None,
        replaces: IssuedCertificate | None,
    ) -> tuple[IssuedCertificate, x509.Certificate, list[x509.Certificate]]:
        issuing = self.authority(session, ISSUING)
        issuer_key, issuer_cert = self.signer(session, issuing)
        now = self.clock.now()
        days = validity_days or self.settings.pki_ee_validity_days
        if not 1 <= days <= 3650:
            raise InvalidRequest("validity must be 1 to 3650 days")
        not_after = now + timedelta(days=days)
        if not_after > issuer_cert.not_valid_after:
            # A certificate must not outlive its issuer (path validation would fail after that date).
            not_after = issuer_cert.not_valid_after
        cert = builders.build_certificate(
            issuer_key=issuer_key,
            issuer_name=issuer_cert.subject,
            issuer_key_id=issuer_cert.key_identifier,
            subject=self._subject_for(identity),
            subject_spki=spki,
            serial=self.new_serial(session),
            not_before=now - BACKDATE,
            not_after=not_after,
            profile=self._ee_profile(identity),
        )
        row = self.record_issued(
            session,
            issuing,
            cert,
            "end_entity",
            identity=identity,
            replaces_id=replaces.id if replaces else None,
        )
        session.flush()
        return row, cert, self.chain_of(issuing)

    def issue(
        self,
        identity: SubjectIdentity,
        *,
        csr_der: bytes | None = None,
        public_key_der: bytes | None = None,
        validity_days: int | None = None,
        ctx: RequestContext | None = None,
        actor: Actor | None = None,
    ) -> IssuedInfo:
        """Issue a signing certificate for a verified identity, from a CSR or a bare public key.

        A CSR's signature is checked (proof of possession); its subject and extensions are ignored. A
        bare public key is for keys generated by key custody, which vouches for possession itself.
        """
        if (csr_der is None) == (public_key_der is None):
            raise InvalidRequest("give exactly one of a CSR or a public key")
        spki = (
            builders.parse_csr(csr_der)
            if csr_der is not None
            else builders.check_public_key(public_key_der or b"")
        )
        with self.tx() as session:
            row, cert, chain = self._issue_ee(session, identity, spki, validity_days, None)
            self.audit_event(
                session,
                ctx or RequestContext.cli(),
                actor or Actor.system(),
                "pki.certificate.issued",
                row.serial,
                kind="end_entity",
                subject_kind=identity.kind.value,
                level=int(identity.level),
                sandbox=identity.sandbox,
            )
        return IssuedInfo(row.serial, cert, chain, row.not_before, row.not_after)

    def _ee_row(self, session: Session, serial: str, *, lock: bool = False) -> IssuedCertificate:
        query = select(IssuedCertificate).where(IssuedCertificate.serial == serial_hex(parse_serial(serial)))
        if lock:
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            raise CertificateNotFound("no certificate with that serial number")
        return row

    def renew(
        self,
        serial: str,
        *,
        validity_days: int | None = None,
        ctx: RequestContext | None = None,
        actor: Actor | None = None,
    ) -> IssuedInfo:
        """A new certificate for the same identity and the same key; the old one stays valid to expiry."""
        with self.tx() as session:
            old = self._ee_row(session, serial, lock=True)
            if old.kind != "end_entity" or old.identity is None:
                raise InvalidState("only end-entity certificates are renewed here")
            if old.status == "revoked":
                raise InvalidState("a revoked certificate cannot be renewed")
            identity = SubjectIdentity.from_json(json.loads(old.identity))
            spki = x509.Certificate.load(old.certificate).public_key
            row, cert, chain = self._issue_ee(session, identity, spki, validity_days, old)
            self.audit_event(
                session,
                ctx or RequestContext.cli(),
                actor or Actor.system(),
                "pki.certificate.renewed",
                row.serial,
                replaces=old.serial,
            )
        return IssuedInfo(row.serial, cert, chain, row.not_before, row.not_after)

    def rekey(
        self,
        serial: str,
        *,
        csr_der: bytes | None = None,
        public_key_der: bytes | None = None,
        validity_days: int | None = None,
        ctx: RequestContext | None = None,
        actor: Actor | None = None,
    ) -> IssuedInfo:
        """A new certificate for the same identity and a new key; the old one is revoked (superseded)."""
        if (csr_der is None) == (public_key_der is None):
            raise InvalidRequest("give exactly one of a CSR or a public key")
        spki = (
            builders.parse_csr(csr_der)
            if csr_der is not None
            else builders.check_public_key(public_key_der or b"")
        )
        ctx, actor = ctx or RequestContext.cli(), actor or Actor.system()
        from sealpact.pki.status import regenerate_crl

        with self.tx() as session:
            old = self._ee_row(session, serial, lock=True)
            if old.kind != "end_entity" or old.identity is None:
                raise InvalidState("only end-entity certificates are re-keyed here")
            if old.status == "revoked":
                raise InvalidState("a revoked certificate cannot be re-keyed")
            if spki.dump() == x509.Certificate.load(old.certificate).public_key.dump():
                raise InvalidRequest("re-key needs a new key; use renewal to keep the same key")
            identity = SubjectIdentity.from_json(json.loads(old.identity))
            row, cert, chain = self._issue_ee(session, identity, spki, validity_days, old)
            self.audit_event(session, ctx, actor, "pki.certificate.rekeyed", row.serial, replaces=old.serial)
            self.mark_revoked(session, old, "superseded", ctx, actor)
            regenerate_crl(self, session, self._issuer_of(session, old))
        return IssuedInfo(row.serial, cert, chain, row.not_before, row.not_after)

    def _issuer_of(self, session: Session, row: IssuedCertificate) -> PkiAuthority:
        issuer = session.get(PkiAuthority, row.issuer_id, with_for_update=True)
        assert issuer is not None
        return issuer

    def mark_revoked(
        self, session: Session, row: IssuedCertificate, reason: str, ctx: RequestContext, actor: Actor
    ) -> None:
        row.status = "on_hold" if reason == "certificate_hold" else "revoked"
        row.revoked_at = self.clock.now()
        row.revocation_reason = reason
        self.audit_event(session, ctx, actor, "pki.certificate.revoked", row.serial, reason_code=reason)

    def revoke(
        self,
        serial: str,
        reason: str = "unspecified",
        *,
        ctx: RequestContext | None = None,
        actor: Actor | None = None,
    ) -> CertificateRecord:
        """Revoke (or, with ``certificate_hold``, suspend) a certificate; the CRL is re-signed at once."""
        if reason not in REVOCATION_REASONS:
            raise InvalidRequest(
                f"unknown revocation reason; use one of {', '.join(sorted(REVOCATION_REASONS))}"
            )
        from sealpact.pki.status import regenerate_crl

        with self.tx() as session:
            row = self._ee_row(session, serial, lock=True)
            if row.status == "revoked":
                raise InvalidState("the certificate is already revoked")
            if row.status == "on_hold" and reason == "certificate_hold":
                raise InvalidState("the certificate is already on hold")
            if row.kind == "ca" and x509.Certificate.load(row.certificate).self_signed != "no":
                raise InvalidState("the root certificate cannot be revoked; remove it from trust stores")
            self.mark_revoked(session, row, reason, ctx or RequestContext.cli(), actor or Actor.system())
            regenerate_crl(self, session, self._issuer_of(session, row))
            return _record_of(row)

    def release_hold(
        self, serial: str, *, ctx: RequestContext | None = None, actor: Actor | None = None
    ) -> CertificateRecord:
        """Lift a certificateHold: the certificate is good again and leaves the next complete CRL.

        (RFC 5280 section 5.3.1: removeFromCRL is only meaningful in delta CRLs; we publish complete CRLs,
        where a released certificate is simply no longer listed, and OCSP answers good again.)
        """
        from sealpact.pki.status import regenerate_crl

        with self.tx() as session:
            row = self._ee_row(session, serial, lock=True)
            if row.status != "on_hold":
                raise InvalidState("the certificate is not on hold")
            row.status, row.revoked_at, row.revocation_reason = "good", None, None
            self.audit_event(
                session,
                ctx or RequestContext.cli(),
                actor or Actor.system(),
                "pki.certificate.hold_released",
                row.serial,
                reason_code="remove_from_crl",
            )
            regenerate_crl(self, session, self._issuer_of(session, row))
            return _record_of(row)

    def get_certificate(self, serial: str) -> CertificateRecord:
        with self.tx() as session:
            return _record_of(self._ee_row(session, serial))

    # -- CRL and OCSP (see sealpact.pki.status) --------------------------------------------------------

    def crl(self, name: str) -> CrlDocument:
        from sealpact.pki.status import current_crl

        return current_crl(self, name)

    def refresh_crls(self, *, force: bool = False) -> list[str]:
        """Re-sign CRLs past half their lifetime (or all, with ``force``); run on a schedule."""
        from sealpact.pki.status import refresh_crls

        return refresh_crls(self, force=force)

    def maintain(self) -> list[str]:
        """Scheduled upkeep: re-sign CRLs past half-life, renew the OCSP responder certificate near expiry.

        Does nothing before the hierarchy exists (creating a CA is ``sealpact init``'s job, not a worker's).
        """
        with self.tx() as session:
            if session.scalar(select(PkiAuthority.id).where(PkiAuthority.name == ROOT)) is None:
                return []
        done = self.ensure_hierarchy()
        return done + [f"crl:{name}" for name in self.refresh_crls()]

    def ocsp(self, request_der: bytes) -> OcspAnswer:
        from sealpact.pki.status import answer_ocsp

        return answer_ocsp(self, request_der)


def _record_of(row: IssuedCertificate) -> CertificateRecord:
    return CertificateRecord(
        serial=row.serial,
        kind=row.kind,
        status=row.status,
        revoked_at=row.revoked_at,
        reason=row.revocation_reason,
        not_before=row.not_before,
        not_after=row.not_after,
        der=row.certificate,
    )


def _open_configured_token(runtime: Runtime) -> Pkcs11Token:
    from sealpact.errors import ConfigurationError
    from sealpact.pki.pkcs11 import Pkcs11Token

    settings = runtime.settings
    if settings.pkcs11_module is None or settings.pkcs11_pin is None:
        raise ConfigurationError("pki_key_store=pkcs11 needs SEALPACT_PKCS11_MODULE and SEALPACT_PKCS11_PIN")
    return Pkcs11Token(
        settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin.get_secret_value()
    )
