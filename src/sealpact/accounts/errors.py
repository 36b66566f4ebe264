"""Errors of the accounts domain. Messages never say whether an account exists."""

from __future__ import annotations

from sealpact.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied, RateLimited


class AlreadyRegistered(Conflict):
    code = "already_registered"


class InvalidIdentifier(InvalidInput):
    code = "invalid_identifier"


class WeakPassword(InvalidInput):
    code = "weak_password"


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"


class SessionInvalid(NotAuthenticated):
    """No, expired, idle or revoked session / token."""

    code = "not_authenticated"


class InvalidTotp(NotAuthenticated):
    code = "invalid_totp"


class TotpStateError(InvalidInput):
    code = "totp_state"
    http_status = 409


class TotpRequired(PermissionDenied):
    code = "totp_required"


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


class ScopeDenied(PermissionDenied):
    code = "insufficient_scope"


class SessionRequired(PermissionDenied):
    """Sensitive account changes need an interactive session, not an API token."""

    code = "session_required"


class LastOwner(Conflict):
    code = "last_owner"


class UserNotFound(NotFound):
    code = "user_not_found"


class _Throttled(RateLimited):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


class AccountLocked(_Throttled):
    code = "account_locked"


class TooManyAttempts(_Throttled):
    code = "too_many_attempts"
