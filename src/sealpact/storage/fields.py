"""Field-level encryption for small secrets and personal data in database columns.

Use it for values that must be read back (TOTP secrets, ID, bank and mobile numbers) and, through
:meth:`FieldCipher.lookup_hash`, for equality lookups on them without storing them in clear.

Each *purpose* (``"accounts.totp"``, ``"identity.id_number"``...) has its own two data keys, one for
AES-256-GCM and one for the lookup HMAC, created on first use and stored wrapped by the KEK in the
``data_keys`` table (so a KEK rotation re-wraps them; tokens stay valid).

Token format (text, safe for any column)::

    sf1.<key version>.<base64url(nonce[12] || ciphertext || tag[16])>

The associated data binds the format, the purpose and the key version, so a token copied into a column
of another purpose, or edited, fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from sealpact.storage.datakeys import DataKeyStore
from sealpact.storage.errors import FieldCipherError, InvalidPurpose

TOKEN_PREFIX = "sf1"  # noqa: S105  (a format tag, not a secret)
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_NONCE = 12


def _check_purpose(purpose: str) -> None:
    if not _PURPOSE.fullmatch(purpose):
        raise InvalidPurpose("A field-encryption purpose is lowercase letters, digits, '.', '_' or '-'.")


def _aad(purpose: str, version: int) -> bytes:
    return f"sealpact/field/v1\x00{purpose}\x00{version}".encode()


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FieldCipher:
    """Encrypts short strings per purpose; keys come from a :class:`DataKeyStore`.

    Every method takes an optional ``session``: pass the caller's session when calling inside an open
    write transaction (on SQLite, the first use of a purpose writes its key, and a second connection
    would wait for the caller's lock).
    """

    def __init__(self, store: DataKeyStore) -> None:
        self._store = store

    def encrypt(self, plaintext: str, *, purpose: str, session: Session | None = None) -> str:
        _check_purpose(purpose)
        version, key = self._store.current(f"field:{purpose}", session=session)
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), _aad(purpose, version))
        return f"{TOKEN_PREFIX}.{version}.{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, *, purpose: str, session: Session | None = None) -> str:
        """The plaintext of ``token``; raises :class:`FieldCipherError` if it is malformed or tampered."""
        _check_purpose(purpose)
        prefix, _, rest = token.partition(".")
        version_text, _, payload = rest.partition(".")
        if prefix != TOKEN_PREFIX or not version_text.isdigit() or not payload:
            raise FieldCipherError("Not a field-encryption token (or an unsupported version).")
        version = int(version_text)
        try:
            blob = _b64d(payload)
        except (binascii.Error, ValueError) as exc:
            raise FieldCipherError("Malformed field-encryption token.") from exc
        if len(blob) < _NONCE + 16:
            raise FieldCipherError("Malformed field-encryption token.")
        key = self._store.get(f"field:{purpose}", version, session=session)
        try:
            plain = AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(purpose, version))
        except InvalidTag as exc:
            raise FieldCipherError("The encrypted field does not authenticate for this purpose.") from exc
        return plain.decode("utf-8")

    def lookup_hash(self, value: str, *, purpose: str, session: Session | None = None) -> str:
        """A keyed hash (HMAC-SHA256, RFC 2104) for equality lookups; 64 hex characters.

        Deterministic per purpose, so callers must normalise ``value`` first (case, spaces). The key
        is separate from the encryption key, so the hash column reveals nothing about the ciphertext.
        """
        _check_purpose(purpose)
        version, key = self._store.current(f"field-lookup:{purpose}", session=session)
        if version != 1:  # lookup keys are never replaced: that would break every stored hash
            key = self._store.get(f"field-lookup:{purpose}", 1, session=session)
        message = f"sealpact/lookup/v1\x00{purpose}\x00".encode() + value.encode("utf-8")
        return hmac.new(key, message, hashlib.sha256).hexdigest()
