"""Revocation data for signing at B-LT/B-LTA, taken in-process from the platform CA.

ETSI EN 319 142-1 section 5.4 (PAdES-B-LT) puts the certificates, OCSP responses and CRLs a verifier
needs into the document security store. For certificates our own CA issued, the OCSP responder and the
CRLs are in this process: asking them over HTTP would only add a round trip. Responses are reused until
half their validity has passed (the same rule the CA uses for re-signing CRLs), so a run of signatures
costs one OCSP signature per signer certificate, not one per document; the pre-signing status check
reads the certificate's row, so a revocation is seen immediately even while a cached response is fresh.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from asn1crypto import ocsp, x509

from sealpact.clock import Clock
from sealpact.pki.errors import CertificateNotFound
from sealpact.pki.ocsp import issuer_hashes

if TYPE_CHECKING:
    from sealpact.runtime import Runtime


class RevocationSource(Protocol):
    """Where the engine gets revocation data (the platform CA in-process, or a test double)."""

    def trust_roots(self) -> list[x509.Certificate]:
        """Trust anchors for pre-signing path validation."""
        ...

    def status(self, cert: x509.Certificate) -> str | None:
        """'good', 'revoked', 'on_hold' for certificates this source knows, else None."""
        ...

    def ocsp_responses(self, chain: list[x509.Certificate]) -> list[bytes]:
        """OCSP responses for the end-entity certificates of ``chain`` it can answer for."""
        ...

    def crls(self) -> list[bytes]:
        """Current CRLs of the CAs involved."""
        ...


@dataclass
class _Cached:
    der: bytes
    refresh_at: datetime


class PlatformRevocation:
    """The platform CA's OCSP responder and CRLs, called in-process, with half-life caching."""

    def __init__(self, runtime: Runtime, clock: Clock | None = None) -> None:
        self._pki = runtime.pki
        self._clock = clock or runtime.clock
        self._lock = threading.Lock()
        self._ocsp: dict[int, _Cached] = {}
        self._crls: dict[str, _Cached] = {}
        self._issuing: x509.Certificate | None = None
        self._root: x509.Certificate | None = None

    def _authorities(self) -> tuple[x509.Certificate, x509.Certificate]:
        if self._issuing is None or self._root is None:
            self._issuing = x509.Certificate.load(self._pki.certificate_der("issuing"))
            self._root = x509.Certificate.load(self._pki.certificate_der("root"))
        return self._issuing, self._root

    def trust_roots(self) -> list[x509.Certificate]:
        return [self._authorities()[1]]

    def issued_here(self, cert: x509.Certificate) -> bool:
        issuing, _ = self._authorities()
        return bool(
            cert.issuer == issuing.subject and cert.authority_key_identifier == issuing.key_identifier
        )

    def status(self, cert: x509.Certificate) -> str | None:
        if not self.issued_here(cert):
            return None
        try:
            record = self._pki.get_certificate(format(cert.serial_number, "x"))
        except CertificateNotFound:
            return "unknown"
        return record.status

    def ocsp_responses(self, chain: list[x509.Certificate]) -> list[bytes]:
        issuing, _ = self._authorities()
        out = []
        now = self._clock.now()
        for cert in chain:
            if cert.ca or not self.issued_here(cert):
                continue
            with self._lock:
                cached = self._ocsp.get(cert.serial_number)
                if cached is not None and now < cached.refresh_at:
                    out.append(cached.der)
                    continue
            answer = self._pki.ocsp(_ocsp_request(cert, issuing))
            if not answer.successful or answer.this_update is None or answer.next_update is None:
                continue
            refresh = answer.this_update + (answer.next_update - answer.this_update) / 2
            with self._lock:
                self._ocsp[cert.serial_number] = _Cached(answer.body, refresh)
            out.append(answer.body)
        return out

    def crls(self) -> list[bytes]:
        out = []
        now = self._clock.now()
        for name in ("issuing", "root"):
            with self._lock:
                cached = self._crls.get(name)
            if cached is None or now >= cached.refresh_at:
                document = self._pki.crl(name)
                half = document.this_update + (document.next_update - document.this_update) / 2
                cached = _Cached(document.der, half if half.tzinfo else half.replace(tzinfo=now.tzinfo))
                with self._lock:
                    self._crls[name] = cached
            out.append(cached.der)
        return out


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    name_hash, key_hash = issuer_hashes(issuer, "sha256")
    cert_id = ocsp.CertId(
        {
            "hash_algorithm": {"algorithm": "sha256"},
            "issuer_name_hash": name_hash,
            "issuer_key_hash": key_hash,
            "serial_number": cert.serial_number,
        }
    )
    request = ocsp.OCSPRequest(
        {"tbs_request": {"request_list": [{"req_cert": cert_id}], "request_extensions": []}}
    )
    der: bytes = request.dump()
    return der
