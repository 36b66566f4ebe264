"""Event-certificate mode: a certificate valid for one signing event (default one hour).

``PkiService.issue`` counts validity in whole days, so the short-lived certificate is assembled here from
the same pieces the PKI service uses for every end-entity certificate (subject, profile, issuing CA key,
random serial, ``pki_certificates`` row for CRL/OCSP, audit event): only ``notAfter`` differs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from asn1crypto import x509

from sealpact.audit import Actor
from sealpact.context import RequestContext
from sealpact.pki import builders
from sealpact.pki.hierarchy import BACKDATE, ISSUING

if TYPE_CHECKING:
    from sealpact.pki.policy import SubjectIdentity
    from sealpact.runtime import Runtime


def issue_short_lived(
    runtime: Runtime, identity: SubjectIdentity, public_key_der: bytes, validity: timedelta
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """Certify ``public_key_der`` for ``identity`` from now for ``validity``; (certificate, chain)."""
    pki = runtime.pki
    spki = builders.check_public_key(public_key_der)
    with pki.tx() as session:
        issuing = pki.authority(session, ISSUING)
        issuer_key, issuer_cert = pki.signer(session, issuing)
        now = runtime.clock.now()
        not_after = min(now + validity, issuer_cert.not_valid_after)
        cert = builders.build_certificate(
            issuer_key=issuer_key,
            issuer_name=issuer_cert.subject,
            issuer_key_id=issuer_cert.key_identifier,
            subject=pki._subject_for(identity),
            subject_spki=spki,
            serial=pki.new_serial(session),
            not_before=now - BACKDATE,
            not_after=not_after,
            profile=pki._ee_profile(identity),
        )
        row = pki.record_issued(session, issuing, cert, "end_entity", identity=identity)
        session.flush()
        pki.audit_event(
            session,
            RequestContext.cli(),
            Actor.system(),
            "pki.certificate.issued",
            row.serial,
            kind="end_entity",
            event_certificate=True,
        )
        return cert, pki.chain_of(issuing)
