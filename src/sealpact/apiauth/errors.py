"""Errors of signed API access. Messages say what was wrong with the request, never anything secret."""

from __future__ import annotations

from sealpact.errors import InvalidInput, NotAuthenticated, RateLimited


class SignatureInvalid(NotAuthenticated):
    """Missing or malformed signing headers, an unknown/revoked/expired key, or a wrong signature."""

    code = "signature_invalid"


class TimestampOutOfWindow(NotAuthenticated):
    code = "timestamp_out_of_window"


class NonceReused(NotAuthenticated):
    """The nonce was already used with this key inside the window: a replayed request."""

    code = "nonce_reused"


class KeyRateLimited(RateLimited):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


class InvalidApiKeyInput(InvalidInput):
    code = "invalid_input"
