"""The PKI package's errors: one root, each with a stable code the API and CLI return."""

from __future__ import annotations

from sealpact.errors import SealpactError


class PkiError(SealpactError):
    code = "pki_error"
    http_status = 400


class HierarchyMissing(PkiError):
    """The CA hierarchy has not been created yet (run `sealpact init` or `sealpact ca init`)."""

    code = "pki_not_initialised"
    http_status = 503


class UnknownAuthority(PkiError):
    code = "pki_unknown_authority"
    http_status = 404


class CertificateNotFound(PkiError):
    code = "pki_certificate_not_found"
    http_status = 404


class InvalidRequest(PkiError):
    """A CSR, public key, certificate or identity that we will not certify."""

    code = "pki_invalid_request"
    http_status = 422


class InvalidState(PkiError):
    """The operation does not fit the certificate's or authority's current state."""

    code = "pki_invalid_state"
    http_status = 409


class ImportRejected(PkiError):
    """An externally signed CA certificate failed the checks against our key and its chain."""

    code = "pki_import_rejected"
    http_status = 422


class KeyStoreError(PkiError):
    code = "pki_key_store_error"
    http_status = 500
