"""The Python client for systems calling sealpact with an organization API key.

    from sealpact.client import SealpactClient

    with SealpactClient("https://sign.example.com", key_id, secret) as client:
        draft = client.create_contract({"title": "NDA", "organization_id": org_id, "parties": [...]})
        client.upload_document(draft["id"], pdf_bytes, "nda.pdf")
        client.send_contract(draft["id"])

Each request is signed (HMAC-SHA256 over method, path, query, body hash, timestamp, nonce and key id),
POSTs carry an Idempotency-Key that retries reuse, and failures raise an :class:`ApiError` subclass
carrying the API's error ``code``.
"""

from __future__ import annotations

from sealpact.client.core import SealpactClient
from sealpact.client.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    SealpactClientError,
    SealpactConnectionError,
    ServerError,
)

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "SealpactClient",
    "SealpactClientError",
    "SealpactConnectionError",
    "ServerError",
]
