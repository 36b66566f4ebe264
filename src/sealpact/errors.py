"""The root of every sealpact domain error.

Each domain package defines its own subclass tree under :class:`SealpactError`. An error carries a
stable machine-readable ``code`` (returned by the API and used by the CLI) and the HTTP status the web
layer maps it to. Messages are shown to users: they must never contain secrets or personal data.
"""

from __future__ import annotations


class SealpactError(Exception):
    """Base class for all expected, user-facing failures."""

    code: str = "error"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status


class NotFound(SealpactError):
    code = "not_found"
    http_status = 404


class Conflict(SealpactError):
    code = "conflict"
    http_status = 409


class InvalidInput(SealpactError):
    code = "invalid_input"
    http_status = 422


class PermissionDenied(SealpactError):
    code = "permission_denied"
    http_status = 403


class NotAuthenticated(SealpactError):
    code = "not_authenticated"
    http_status = 401


class RateLimited(SealpactError):
    code = "rate_limited"
    http_status = 429


class ConfigurationError(SealpactError):
    code = "configuration_error"
    http_status = 500
