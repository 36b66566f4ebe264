"""Errors of the identity domain.

Every message is shown to users: it says *what* failed (which element, which step) and never echoes the
submitted name, ID, card or mobile number. A provider outage has its own error class so it is never
reported as an identity mismatch.
"""

from __future__ import annotations

from sealpact.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RateLimited, SealpactError


class IdentityError(SealpactError):
    """Root of the identity errors."""

    code = "identity_error"
    http_status = 400


# -- local checks (no provider is called for data that cannot be right) ---------------------------


class InvalidIdNumber(IdentityError, InvalidInput):
    code = "invalid_id_number"
    http_status = 422


class InvalidCreditCode(IdentityError, InvalidInput):
    code = "invalid_credit_code"
    http_status = 422


class InvalidMobile(IdentityError, InvalidInput):
    code = "invalid_mobile"
    http_status = 422


class InvalidBankCard(IdentityError, InvalidInput):
    code = "invalid_bank_card"
    http_status = 422


class InvalidName(IdentityError, InvalidInput):
    code = "invalid_name"
    http_status = 422


# -- provider answers ------------------------------------------------------------------------------


class IdentityMismatch(IdentityError):
    """The authoritative source answered, and the elements do not belong together."""

    code = "identity_mismatch"
    http_status = 422


class ProviderUnavailable(IdentityError):
    """Timeout, connection failure, 5xx or an unreadable answer: nothing is known about the identity."""

    code = "provider_unavailable"
    http_status = 503


class ProviderRejected(IdentityError):
    """The provider refused our request (authentication, quota, bad request): a configuration problem."""

    code = "provider_rejected"
    http_status = 502


class CallbackRejected(IdentityError):
    """A provider callback that is forged, replayed, late, or bound to another request."""

    code = "callback_rejected"
    http_status = 401


class SignatureInvalid(CallbackRejected):
    code = "signature_invalid"


# -- flow state ------------------------------------------------------------------------------------


class VerificationNotFound(IdentityError, NotFound):
    code = "verification_not_found"
    http_status = 404


class VerificationStateError(IdentityError, Conflict):
    """The step does not fit the verification's state (already completed, failed, or expired)."""

    code = "verification_state"
    http_status = 409


class ChallengeExpired(IdentityError):
    code = "challenge_expired"
    http_status = 410


class ChallengeFailed(IdentityError):
    """A wrong SMS code or deposit amount; ``attempts_left`` says how many tries remain."""

    code = "challenge_failed"
    http_status = 422

    def __init__(self, message: str, *, attempts_left: int) -> None:
        super().__init__(message)
        self.attempts_left = attempts_left


class AlreadyVerified(IdentityError, Conflict):
    code = "already_verified"
    http_status = 409


class IdentityInUse(IdentityError, Conflict):
    """The ID number (or credit code) is already verified for another account."""

    code = "identity_in_use"
    http_status = 409


class LevelTooLow(IdentityError, PermissionDenied):
    code = "verification_level_too_low"
    http_status = 403


class SandboxRefused(IdentityError):
    """The sandbox authority is configured while SEALPACT_ENV=production without an explicit allowance."""

    code = "sandbox_refused"
    http_status = 500


class IdentityThrottled(IdentityError, RateLimited):
    """Too many attempts for this account, IP address or ID number; ``retry_after`` in seconds."""

    code = "identity_locked"
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}
