"""Exceptions of the Python client: one per kind of answer, each carrying the API's error code."""

from __future__ import annotations


class SealpactClientError(Exception):
    """Root of every error the client raises."""


class SealpactConnectionError(SealpactClientError):
    """The server could not be reached (or kept failing transiently) after the allowed retries."""


class ApiError(SealpactClientError):
    """The API answered ``{"error": {"code", "message"}}`` with a 4xx/5xx status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code  # stable, machine-readable (e.g. "nonce_reused", "not_found")
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after


class BadRequestError(ApiError):
    """400 or 422: the request itself is wrong; sending it again will not help."""


class AuthenticationError(ApiError):
    """401: unknown/revoked key, bad signature, timestamp out of window, reused nonce."""


class PermissionDeniedError(ApiError):
    """403: the key lacks the scope, or the role behind it lacks the permission."""


class NotFoundError(ApiError):
    """404: no such object, or it belongs to another organization."""


class ConflictError(ApiError):
    """409: the object's state does not allow this (or an Idempotency-Key was reused differently)."""


class PayloadTooLargeError(ApiError):
    """413."""


class RateLimitedError(ApiError):
    """429 after the retries; ``retry_after`` says when to try again."""


class ServerError(ApiError):
    """5xx after the retries."""


def error_class(status: int) -> type[ApiError]:
    if status in (400, 422):
        return BadRequestError
    if status >= 500:
        return ServerError
    return {
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        413: PayloadTooLargeError,
        429: RateLimitedError,
    }.get(status, ApiError)
