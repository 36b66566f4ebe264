"""Key providers: where the key-encryption keys (KEKs) live.

A KEK never leaves its provider in plaintext form outside the process that uses it. Data keys (one per
blob, one per field-encryption domain) are wrapped by the provider's active KEK; rotating the KEK means
re-wrapping those data keys, never re-encrypting the data itself.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Protocol

from sealpact.errors import SealpactError


class KeyProviderError(SealpactError):
    code = "key_provider_error"
    http_status = 500


class KeyUnavailable(KeyProviderError):
    """The KEK is missing, or the secret that opens it is missing or wrong."""

    code = "key_unavailable"


class UnwrapFailed(KeyProviderError):
    """A wrapped key did not authenticate: wrong KEK, wrong context or tampered."""

    code = "unwrap_failed"


@dataclass(frozen=True)
class WrappedKey:
    kek_id: str
    ciphertext: bytes

    def encode(self) -> str:
        """Text form for a database column: ``<kek id>:<base64 ciphertext>``."""
        return f"{self.kek_id}:{base64.b64encode(self.ciphertext).decode()}"

    @classmethod
    def decode(cls, text: str) -> WrappedKey:
        kek_id, sep, payload = text.rpartition(":")
        if not sep or not kek_id:
            raise UnwrapFailed("malformed wrapped key")
        try:
            return cls(kek_id, base64.b64decode(payload, validate=True))
        except ValueError as exc:
            raise UnwrapFailed("malformed wrapped key") from exc


class KeyProvider(Protocol):
    """Wraps and unwraps 256-bit data keys under a key-encryption key."""

    @property
    def name(self) -> str: ...

    def active_kek_id(self) -> str: ...

    def wrap(self, data_key: bytes, *, context: bytes) -> WrappedKey:
        """Wrap ``data_key`` under the active KEK, bound to ``context`` (e.g. the blob id)."""
        ...

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        """Recover a data key; raises :class:`UnwrapFailed` on any mismatch."""
        ...

    def rotate(self) -> str:
        """Create a new KEK, make it active and return its id. Old KEKs stay usable for unwrap."""
        ...

    def check(self) -> None:
        """Raise :class:`KeyProviderError` when the provider cannot serve keys (health check)."""
        ...


def wrap_aad(kek_id: str, context: bytes) -> bytes:
    """Associated data for wrapping: ties the wrapped key to its KEK and to what it protects."""
    return b"sealpact/kek-wrap/v1\x00" + kek_id.encode() + b"\x00" + context
