"""Where CA, TSA and OCSP private keys live: encrypted in the database (keyring) or on a PKCS#11 token.

Keyring store: the key pair is generated in software; its PKCS#8 encoding is encrypted with AES-256-GCM
under a fresh 256-bit data key (associated data binds it to the key id), and the data key is wrapped by
the key provider's KEK (``runtime.keys.wrap``, context bound to the key id). Plaintext private keys exist
only in process memory. Each key is unwrapped once per process and cached: the TSA signs thousands of
times per second and must not pay an unwrap per signature.

PKCS#11 store: the key pair is generated on the token, private key sensitive and non-extractable; the
database row only records the public key and the label that finds the key on the token again.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from sealpact.clock import Clock
from sealpact.config import PkiKeyStoreKind
from sealpact.db import new_id
from sealpact.pki.errors import KeyStoreError
from sealpact.pki.models import PkiKey
from sealpact.pki.signing_key import KeyAlgorithm, SigningKey, SoftwareSigningKey
from sealpact.storage.keys import KeyProvider, WrappedKey

PSEUDONYM_PURPOSE = "pseudonym"


class HsmToken(Protocol):
    """A PKCS#11 token (or anything like it) that generates and uses non-extractable signing keys."""

    def generate(self, label: str, algorithm: KeyAlgorithm) -> SigningKey:
        """Create a key pair on the token under ``label``; return a handle that signs on the token."""
        ...

    def find(self, label: str, algorithm: KeyAlgorithm, public_key_der: bytes) -> SigningKey:
        """The key pair stored under ``label``; raises :class:`KeyStoreError` when it is missing."""
        ...


def _key_context(key_id: str) -> bytes:
    return f"sealpact/pki-key/{key_id}".encode()


class PkiKeyStore:
    """Generates and loads PKI keys; one per process (held by the PKI service), with a cache."""

    def __init__(
        self, kind: PkiKeyStoreKind, provider: KeyProvider, clock: Clock, token: HsmToken | None = None
    ) -> None:
        if kind is PkiKeyStoreKind.PKCS11 and token is None:
            raise KeyStoreError("the PKCS#11 key store needs a token")
        self._kind = kind
        self._provider = provider
        self._clock = clock
        self._token = token
        self._lock = threading.Lock()
        self._cache: dict[str, SigningKey] = {}
        self._secrets: dict[str, bytes] = {}

    @property
    def kind(self) -> PkiKeyStoreKind:
        return self._kind

    def generate(self, session: Session, *, purpose: str, algorithm: KeyAlgorithm) -> SigningKey:
        """Create a key pair and its row (in the caller's transaction)."""
        key_id = new_id()
        row = PkiKey(
            id=key_id,
            purpose=purpose,
            algorithm=algorithm.value,
            store=self._kind.value,
            created_at=self._clock.now(),
        )
        if self._kind is PkiKeyStoreKind.PKCS11:
            assert self._token is not None
            key = self._token.generate(key_id, algorithm)
        else:
            software = SoftwareSigningKey.generate(key_id, algorithm)
            self._seal(row, software.private_key_pkcs8())
            key = software
        row.public_key = key.public_key_der()
        session.add(row)
        session.flush()
        with self._lock:
            self._cache[key_id] = key
        return key

    def load(self, session: Session, key_id: str) -> SigningKey:
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        row = session.get(PkiKey, key_id)
        if row is None or row.public_key is None:
            raise KeyStoreError("PKI key not found")
        algorithm = KeyAlgorithm(row.algorithm)
        if row.store == PkiKeyStoreKind.PKCS11.value:
            if self._token is None:
                raise KeyStoreError("this key is on a PKCS#11 token, but no token is configured")
            key = self._token.find(key_id, algorithm, row.public_key)
        else:
            private = serialization.load_der_private_key(self._open(row), password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
                raise KeyStoreError("unexpected private key type")
            key = SoftwareSigningKey(key_id, private)
            if key.public_key_der() != row.public_key:
                raise KeyStoreError("stored private key does not match its public key")
        with self._lock:
            self._cache[key_id] = key
        return key

    def secret(self, session: Session, purpose: str) -> bytes:
        """A 256-bit symmetric platform secret (e.g. the pseudonym HMAC key), created on first use."""
        with self._lock:
            cached = self._secrets.get(purpose)
        if cached is not None:
            return cached
        row = session.query(PkiKey).filter_by(purpose=purpose).order_by(PkiKey.created_at).first()
        if row is None:
            row = PkiKey(
                id=new_id(),
                purpose=purpose,
                algorithm="hmac-sha256",
                store="keyring",
                created_at=self._clock.now(),
            )
            value = os.urandom(32)
            self._seal(row, value)
            session.add(row)
            session.flush()
        else:
            value = self._open(row)
        with self._lock:
            self._secrets[purpose] = value
        return value

    def _seal(self, row: PkiKey, plaintext: bytes) -> None:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        row.encrypted_private = nonce + AESGCM(data_key).encrypt(nonce, plaintext, _key_context(row.id))
        wrapped = self._provider.wrap(data_key, context=_key_context(row.id))
        row.wrapped_key = wrapped.encode()
        row.kek_id = wrapped.kek_id

    def _open(self, row: PkiKey) -> bytes:
        if row.encrypted_private is None or row.wrapped_key is None:
            raise KeyStoreError("PKI key has no encrypted private part")
        data_key = self._provider.unwrap(WrappedKey.decode(row.wrapped_key), context=_key_context(row.id))
        blob = row.encrypted_private
        try:
            return AESGCM(data_key).decrypt(blob[:12], blob[12:], _key_context(row.id))
        except InvalidTag as exc:
            raise KeyStoreError("PKI key failed authentication") from exc

    def rewrap(self, session: Session) -> int:
        """Re-wrap data keys not under the active KEK (after a KEK rotation); returns how many."""
        active = self._provider.active_kek_id()
        count = 0
        for row in session.query(PkiKey).filter(PkiKey.wrapped_key.is_not(None), PkiKey.kek_id != active):
            assert row.wrapped_key is not None
            data_key = self._provider.unwrap(WrappedKey.decode(row.wrapped_key), context=_key_context(row.id))
            wrapped = self._provider.wrap(data_key, context=_key_context(row.id))
            row.wrapped_key, row.kek_id = wrapped.encode(), wrapped.kek_id
            count += 1
        return count
