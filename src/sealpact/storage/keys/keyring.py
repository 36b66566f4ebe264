"""The default key provider: an encrypted keyring file protected by a master secret.

File layout (JSON, mode 0600): the Argon2id parameters and salt that turn the master secret into the
keyring key, the KEKs each sealed with AES-256-GCM under that key (associated data: the KEK id), the
active KEK id, and an HMAC over all of it so the file cannot be edited (e.g. to re-activate an old KEK)
without the master secret. The master secret itself comes from the environment or a secrets file and
is never written next to the keyring by this module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealpact.storage.keys import KeyUnavailable, UnwrapFailed, WrappedKey, wrap_aad
from sealpact.storage.localfs import atomic_write_bytes

_FORMAT = "sealpact-keyring/v1"
# Argon2id with RFC 9106's second recommended option scaled to start-up time (~0.1 s once per process).
_DEFAULT_TIME_COST, _DEFAULT_MEMORY_KIB, _DEFAULT_PARALLELISM = 3, 65536, 1


@dataclass(frozen=True)
class _Kdf:
    salt: bytes
    time_cost: int
    memory_kib: int
    parallelism: int

    def derive(self, master_secret: bytes) -> bytes:
        return _derive_cached(master_secret, self.salt, self.time_cost, self.memory_kib, self.parallelism)


_derive_lock = threading.Lock()
_derive_cache: dict[tuple[bytes, bytes, int, int, int], bytes] = {}


def _derive_cached(secret: bytes, salt: bytes, t: int, m: int, p: int) -> bytes:
    # Key on a hash of the secret, so the cache never holds the secret itself.
    cache_key = (hashlib.sha256(secret).digest(), salt, t, m, p)
    with _derive_lock:
        if cache_key not in _derive_cache:
            _derive_cache[cache_key] = hash_secret_raw(
                secret, salt, time_cost=t, memory_cost=m, parallelism=p, hash_len=32, type=Type.ID
            )
        return _derive_cache[cache_key]


class KeyringKeyProvider:
    """KEKs in an encrypted file; reloads the file when it meets a KEK id it does not know."""

    name = "keyring"

    def __init__(self, path: Path, master_secret: bytes) -> None:
        if not master_secret:
            raise KeyUnavailable(
                "No master secret: set SEALPACT_MASTER_SECRET or SEALPACT_MASTER_SECRET_FILE."
            )
        self._path = path
        self._secret = master_secret
        self._lock = threading.Lock()
        self._keks: dict[str, bytes] = {}
        self._active = ""
        self._loaded_stat: tuple[int, int, int] | None = None
        self._load()

    # -- creation -------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, master_secret: bytes) -> KeyringKeyProvider:
        """Write a new keyring with one fresh KEK. Refuses to overwrite an existing keyring."""
        if path.exists():
            raise KeyUnavailable(f"A keyring already exists at {path}; refusing to overwrite it.")
        kdf = _Kdf(
            secrets.token_bytes(16),
            _DEFAULT_TIME_COST,
            _DEFAULT_MEMORY_KIB,
            _DEFAULT_PARALLELISM,
        )
        kek_id = _new_kek_id()
        _write(path, kdf, kdf.derive(master_secret), {kek_id: secrets.token_bytes(32)}, kek_id)
        return cls(path, master_secret)

    # -- KeyProvider ----------------------------------------------------------------------------

    def active_kek_id(self) -> str:
        with self._lock:
            self._reload_if_changed_locked()
            return self._active

    def wrap(self, data_key: bytes, *, context: bytes) -> WrappedKey:
        with self._lock:
            self._reload_if_changed_locked()  # another process may have rotated: wrap under the new KEK
            kek_id, kek = self._active, self._keks[self._active]
        nonce = secrets.token_bytes(12)
        return WrappedKey(kek_id, nonce + AESGCM(kek).encrypt(nonce, data_key, wrap_aad(kek_id, context)))

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        kek = self._kek(wrapped.kek_id)
        blob = wrapped.ciphertext
        if len(blob) < 12 + 16:
            raise UnwrapFailed("wrapped key too short")
        try:
            return AESGCM(kek).decrypt(blob[:12], blob[12:], wrap_aad(wrapped.kek_id, context))
        except InvalidTag as exc:
            raise UnwrapFailed("wrapped key does not authenticate under its KEK") from exc

    def rotate(self) -> str:
        with self._lock:
            self._load_locked()
            kek_id = _new_kek_id()
            keks = dict(self._keks)
            keks[kek_id] = secrets.token_bytes(32)
            kdf = self._kdf
            _write(self._path, kdf, kdf.derive(self._secret), keks, kek_id)
            self._keks, self._active = keks, kek_id
            self._loaded_stat = self._file_stat()
            return kek_id

    def check(self) -> None:
        if not self._path.exists():
            raise KeyUnavailable("The keyring file is missing.")

    # -- internals ------------------------------------------------------------------------------

    def _kek(self, kek_id: str) -> bytes:
        with self._lock:
            if kek_id not in self._keks:
                self._load_locked()  # another process may have rotated
            try:
                return self._keks[kek_id]
            except KeyError:
                raise UnwrapFailed(f"unknown key-encryption key {kek_id!r}") from None

    def _load(self) -> None:
        with self._lock:
            self._load_locked()

    def _file_stat(self) -> tuple[int, int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _reload_if_changed_locked(self) -> None:
        # One stat per call: the keyring is replaced atomically (new inode) whenever it changes.
        current = self._file_stat()
        if current is not None and current != self._loaded_stat:
            self._load_locked()

    def _load_locked(self) -> None:
        stat = self._file_stat()
        try:
            doc = json.loads(self._path.read_text())
        except FileNotFoundError:
            raise KeyUnavailable(f"No keyring at {self._path}; run `sealpact init` first.") from None
        except (OSError, ValueError) as exc:
            raise KeyUnavailable(f"The keyring at {self._path} is unreadable.") from exc
        if doc.get("format") != _FORMAT:
            raise KeyUnavailable("Unknown keyring format.")
        k = doc["kdf"]
        self._kdf = _Kdf(base64.b64decode(k["salt"]), k["time_cost"], k["memory_kib"], k["parallelism"])
        key = self._kdf.derive(self._secret)
        expected = _mac(key, doc)
        if not hmac.compare_digest(expected, base64.b64decode(doc.get("mac", ""))):
            raise KeyUnavailable("The master secret does not open this keyring (or the keyring was altered).")
        keks: dict[str, bytes] = {}
        for entry in doc["keks"]:
            sealed = base64.b64decode(entry["sealed"])
            try:
                keks[entry["id"]] = AESGCM(key).decrypt(sealed[:12], sealed[12:], entry["id"].encode())
            except InvalidTag as exc:
                raise KeyUnavailable("A KEK in the keyring does not authenticate.") from exc
        if doc["active"] not in keks:
            raise KeyUnavailable("The keyring names an active KEK it does not hold.")
        self._keks, self._active = keks, doc["active"]
        self._loaded_stat = stat


def _new_kek_id() -> str:
    return "kek-" + datetime.now(UTC).strftime("%Y%m%d") + "-" + secrets.token_hex(4)


def _mac(key: bytes, doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "mac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, b"sealpact-keyring-mac\x00" + canonical, hashlib.sha256).digest()


def _write(path: Path, kdf: _Kdf, key: bytes, keks: dict[str, bytes], active: str) -> None:
    entries = []
    for kek_id, kek in keks.items():
        nonce = secrets.token_bytes(12)
        sealed = nonce + AESGCM(key).encrypt(nonce, kek, kek_id.encode())
        entries.append({"id": kek_id, "sealed": base64.b64encode(sealed).decode()})
    doc: dict[str, Any] = {
        "format": _FORMAT,
        "kdf": {
            "alg": "argon2id",
            "salt": base64.b64encode(kdf.salt).decode(),
            "time_cost": kdf.time_cost,
            "memory_kib": kdf.memory_kib,
            "parallelism": kdf.parallelism,
        },
        "keks": entries,
        "active": active,
    }
    doc["mac"] = base64.b64encode(_mac(key, doc)).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(doc, indent=2).encode(), mode=0o600)


def read_master_secret(secret: str | None, secret_file: Path | None) -> bytes:
    """The master secret from the environment value or from a file (first line, stripped)."""
    if secret:
        return secret.encode()
    if secret_file is not None:
        try:
            value = secret_file.read_text().strip()
        except OSError as exc:
            raise KeyUnavailable(f"Cannot read the master secret file {secret_file}.") from exc
        if value:
            return value.encode()
    raise KeyUnavailable("No master secret: set SEALPACT_MASTER_SECRET or SEALPACT_MASTER_SECRET_FILE.")


def generate_master_secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
