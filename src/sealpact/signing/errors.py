"""Errors of the signing engine and of verification input handling; one root, stable codes."""

from __future__ import annotations

from collections.abc import Sequence

from sealpact.errors import SealpactError


class SigningError(SealpactError):
    code = "signing_error"
    http_status = 422


class NotAPdf(SigningError):
    """The input does not start like a PDF file (ISO 32000-2 section 7.5.2 header)."""

    code = "signing_not_a_pdf"


class EncryptedPdf(SigningError):
    """Encrypted / password-protected input: we sign only documents everyone can read."""

    code = "signing_encrypted_pdf"


class DamagedPdf(SigningError):
    """The cross-reference table or trailer cannot be read strictly (no silent repair)."""

    code = "signing_damaged_pdf"


class ActiveContent(SigningError):
    """JavaScript, launch actions or embedded files: shown to the sender, not signed silently."""

    code = "signing_active_content"

    def __init__(self, message: str, findings: Sequence[str]) -> None:
        super().__init__(message)
        self.findings = tuple(findings)


class CertificateUnusable(SigningError):
    """The signer's certificate is expired, not yet valid, revoked or on hold."""

    code = "signing_certificate_unusable"


class TimestampFailed(SigningError):
    """The TSA did not answer; signing stops (never a fallback to the server clock)."""

    code = "signing_timestamp_failed"
    http_status = 503


class FieldError(SigningError):
    """A signature field is missing, already signed, or its spec is invalid."""

    code = "signing_field_error"
