"""HMAC request signing for provider calls and provider callbacks (the sealpact provider contract).

Headers::

    X-Sealpact-Key-Id:    which shared secret
    X-Sealpact-Timestamp: Unix seconds
    X-Sealpact-Nonce:     32 hex characters, single use
    X-Sealpact-Signature: hex HMAC-SHA256 (RFC 2104) of the string to sign

String to sign (each line ends with ``\\n`` except the last)::

    SEALPACT-HMAC-SHA256
    <METHOD>
    <path with query>
    <timestamp>
    <nonce>
    <hex SHA-256 of the body>

The timestamp bounds how late a message may arrive, the nonce (remembered for the window) stops
replays inside it, and the body hash binds the content. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sealpact.identity.errors import CallbackRejected, SignatureInvalid

ALGORITHM = "SEALPACT-HMAC-SHA256"
H_KEY_ID = "X-Sealpact-Key-Id"
H_TIMESTAMP = "X-Sealpact-Timestamp"
H_NONCE = "X-Sealpact-Nonce"
H_SIGNATURE = "X-Sealpact-Signature"
DEFAULT_WINDOW = timedelta(minutes=5)


def string_to_sign(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{ALGORITHM}\n{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def signature(secret: bytes, method: str, path: str, timestamp: int, nonce: str, body: bytes) -> str:
    return hmac.new(secret, string_to_sign(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def sign_headers(
    *,
    key_id: str,
    secret: bytes,
    method: str,
    path: str,
    body: bytes,
    now: datetime,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four signature headers for one request (a fresh nonce unless one is given)."""
    timestamp = int(now.timestamp())
    nonce = nonce or secrets.token_hex(16)
    return {
        H_KEY_ID: key_id,
        H_TIMESTAMP: str(timestamp),
        H_NONCE: nonce,
        H_SIGNATURE: signature(secret, method, path, timestamp, nonce, body),
    }


class NonceStore(Protocol):
    def use(self, nonce: str, *, expires_at: datetime, now: datetime) -> bool:
        """Remember ``nonce`` until ``expires_at``; False if it was already used (a replay)."""
        ...


class MemoryNonceStore:
    """Nonces of one process (the sandbox authority, tests); expired ones are dropped as we go."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def use(self, nonce: str, *, expires_at: datetime, now: datetime) -> bool:
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {n: t for n, t in self._seen.items() if t > now}
            previous = self._seen.get(nonce)
            if previous is not None and previous > now:
                return False
            self._seen[nonce] = expires_at
            return True


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get(name.lower())
    if not value:
        raise SignatureInvalid("The message is not signed.")
    return value


def verify_signed(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets_by_key: Mapping[str, bytes],
    now: datetime,
    nonces: NonceStore,
    window: timedelta = DEFAULT_WINDOW,
) -> str:
    """Check a signed message; returns its key id. Order: signature, then time, then nonce.

    The nonce is consumed only for an authentic, timely message, so a forger cannot burn nonces.
    """
    key_id = _header(headers, H_KEY_ID)
    secret = secrets_by_key.get(key_id)
    if secret is None:
        raise SignatureInvalid("The message is signed with an unknown key.")
    timestamp_text = _header(headers, H_TIMESTAMP)
    nonce = _header(headers, H_NONCE)
    given = _header(headers, H_SIGNATURE)
    if not timestamp_text.isdigit() or len(timestamp_text) > 12 or not 16 <= len(nonce) <= 64:
        raise SignatureInvalid("The message's signature headers are malformed.")
    timestamp = int(timestamp_text)
    expected = signature(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, given.lower()):
        raise SignatureInvalid("The message's signature does not verify.")
    sent = datetime.fromtimestamp(timestamp, tz=now.tzinfo)
    if abs(now - sent) > window:
        raise CallbackRejected("The message is outside the accepted time window.", code="message_stale")
    if not nonces.use(f"{key_id}:{nonce}", expires_at=now + 2 * window, now=now):
        raise CallbackRejected("The message was already received (replay).", code="message_replayed")
    return key_id
