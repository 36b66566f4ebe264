"""Link tokens, signer session tokens and one-time codes: random, stored only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

LINK_PREFIX = "spl_"  # a signing link token
SESSION_PREFIX = "sps_"  # a signer session token
CODE_DIGITS = 6
CODE_TTL_MINUTES = 10
CODE_MAX_ATTEMPTS = 5


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_digest(code_id: str, code: str) -> str:
    """Bound to the code row, so equal codes of two rows have different digests."""
    return hashlib.sha256(f"{code_id}:{code}".encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
