"""Errors of signer key custody. Messages never contain a PIN, a key or any part of one."""

from __future__ import annotations

from sealpact.errors import SealpactError


class CustodyError(SealpactError):
    """Root of every custody error."""

    code = "custody_error"
    http_status = 400


class WeakPin(CustodyError):
    """The new PIN breaks the PIN rules (6-12 digits, not all the same, not a straight sequence)."""

    code = "pin_weak"
    http_status = 422


class PinInvalid(CustodyError):
    """A wrong PIN (or none); counted towards the lock."""

    code = "pin_invalid"
    http_status = 422

    def __init__(self, message: str, *, attempts_left: int) -> None:
        super().__init__(message)
        self.attempts_left = attempts_left


class PinLocked(CustodyError):
    """Too many wrong PINs: the key stays locked until a PIN reset after re-verification."""

    code = "pin_locked"
    http_status = 423


class NoSignerKey(CustodyError):
    """The signer has no custody key for this identity yet (set a signing PIN first)."""

    code = "custody_no_key"
    http_status = 409


class SignerKeyExists(CustodyError):
    code = "custody_key_exists"
    http_status = 409


class ReverificationRequired(CustodyError):
    """A PIN reset was asked for without a fresh identity re-verification."""

    code = "reverification_required"
    http_status = 403


class ExternalSignerError(CustodyError):
    """The signer's own token could not be used (absent, wrong token PIN, key not found, wrong key)."""

    code = "external_signer_unavailable"
    http_status = 422
