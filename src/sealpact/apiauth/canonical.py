"""The canonical request of a signed API call, and its HMAC-SHA256 signature (pure, no I/O).

Shared by the server (:mod:`sealpact.accounts.apikeys`) and the Python client (:mod:`sealpact.client`),
so both sides build byte-for-byte the same string. The string to sign is eight lines joined by ``\\n``
(no trailing newline)::

    SEALPACT-HMAC-SHA256
    <METHOD>                  upper case, e.g. POST
    <path>                    the path exactly as sent on the wire (percent-encoding kept), no query
    <canonical query>         see canonical_query(); empty line when there is no query
    <body sha256>             lower-case hex SHA-256 of the raw body bytes (of b"" when there is none)
    <timestamp>               Unix seconds, decimal, as sent in X-Sealpact-Timestamp
    <nonce>                   as sent in X-Sealpact-Nonce: 16-64 of [A-Za-z0-9_-]
    <key id>                  as sent in X-Sealpact-Key

The signature is ``hex(HMAC-SHA256(secret_utf8, string_to_sign_utf8))`` (RFC 2104), sent lower-case in
``X-Sealpact-Signature``. Canonical query: every ``name=value`` pair of the raw query string is
percent-decoded (``+`` stays a literal plus), re-encoded with RFC 3986 unreserved characters kept
(``quote(..., safe="-_.~")``), and the pairs sorted by name then value and joined with ``&``; a
name without ``=`` counts as an empty value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote, unquote

SCHEME = "SEALPACT-HMAC-SHA256"
HEADER_KEY = "X-Sealpact-Key"
HEADER_TIMESTAMP = "X-Sealpact-Timestamp"
HEADER_NONCE = "X-Sealpact-Nonce"
HEADER_SIGNATURE = "X-Sealpact-Signature"
# Requests whose timestamp is further than this from the server's clock are refused; nonces are
# remembered at least this long past their timestamp, so a replay is caught by one check or the other.
WINDOW_SECONDS = 300

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
KEY_ID_PATTERN = re.compile(r"^spak_[A-Za-z0-9]{8,64}$")
SIGNATURE_PATTERN = re.compile(r"^[0-9a-f]{64}$")
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()


def canonical_query(raw_query: str) -> str:
    """The raw query string (without ``?``) in canonical form (see the module docstring)."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def string_to_sign(
    *,
    method: str,
    path: str,
    raw_query: str,
    body_hash: str,
    timestamp: str,
    nonce: str,
    key_id: str,
) -> str:
    return "\n".join(
        (SCHEME, method.upper(), path, canonical_query(raw_query), body_hash, timestamp, nonce, key_id)
    )


def sign(secret: str, text: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``text`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_matches(secret: str, text: str, signature: str) -> bool:
    """Constant-time comparison of the expected signature with the one presented."""
    return hmac.compare_digest(sign(secret, text).encode("ascii"), signature.encode("ascii", "replace"))
