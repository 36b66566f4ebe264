"""Key provider on a PKCS#11 token (an HSM; SoftHSM2 in tests).

Each KEK is an AES-256 secret key generated on the token: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not
CKA_EXTRACTABLE, usable only to encrypt/decrypt (no wrap, no derive, not modifiable), labelled with its
KEK id. A data key is wrapped by encrypting it on the token with CKM_AES_GCM (PKCS#11 v2.40 section
2.10.4 / NIST SP 800-38D) under a random 96-bit IV, with the context bound as associated data
(:func:`~sealpact.storage.keys.wrap_aad`); the KEK itself never leaves the token. GCM is used rather
than CKM_AES_KEY_WRAP (RFC 3394) because key wrap has no associated data to bind the context to.

Which KEK is active is recorded on the token too, in a CKO_DATA object (application ``sealpact``), so
every process using the token agrees on it.

One logged-in session is shared per provider and serialised with a lock: a PKCS#11 session must not be
used from two threads at once (PKCS#11 v2.40 base specification, section 6.6.2).
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sealpact.storage.keys import KeyUnavailable, UnwrapFailed, WrappedKey, wrap_aad

APPLICATION = "sealpact"
ACTIVE_LABEL = "sealpact-active-kek"
_NONCE = 12
_TAG_BITS = 128


def _new_kek_id() -> str:
    return "p11-" + datetime.now(UTC).strftime("%Y%m%d") + "-" + secrets.token_hex(4)


class Pkcs11KeyProvider:
    """KEKs on a PKCS#11 token; data keys are wrapped and unwrapped by the token."""

    name = "pkcs11"

    def __init__(self, module: Path, token_label: str, pin: str, *, create_if_missing: bool = False) -> None:
        import pkcs11

        if not pin:
            raise KeyUnavailable("No PKCS#11 PIN: set SEALPACT_PKCS11_PIN.")
        if not Path(module).is_file():
            raise KeyUnavailable(f"The PKCS#11 module {module} does not exist.")
        self._pkcs11 = pkcs11
        self._lock = threading.Lock()
        self._token_label = token_label
        try:
            lib = pkcs11.lib(str(module))
            token = lib.get_token(token_label=token_label)
        except pkcs11.NoSuchToken:
            raise KeyUnavailable(f"No PKCS#11 token labelled {token_label!r}.") from None
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyUnavailable(f"Cannot load the PKCS#11 module ({type(exc).__name__}).") from exc
        try:
            self._session: Any = token.open(user_pin=pin, rw=True)
        except pkcs11.UserAlreadyLoggedIn:
            # Login state is per process and token (PKCS#11 v2.40 section 5.6.1): another component
            # here (e.g. the PKI key store) is logged in, and a new session shares that state.
            self._session = token.open(rw=True)
        except pkcs11.PinIncorrect:
            raise KeyUnavailable("The PKCS#11 token rejected the PIN.") from None
        except pkcs11.PKCS11Error as exc:
            raise KeyUnavailable(f"Cannot log in to the PKCS#11 token ({type(exc).__name__}).") from exc
        self._keks: dict[str, Any] = {}
        with self._lock:
            active = self._read_active()
            if active is None:
                if not create_if_missing:
                    raise KeyUnavailable(
                        f"The PKCS#11 token {token_label!r} holds no sealpact KEK; run `sealpact keys init`."
                    )
                active = self._generate_locked()
                self._set_active_locked(active)
            self._active = active
            self._find_locked(active)  # the active KEK must exist

    # -- KeyProvider ----------------------------------------------------------------------------

    def active_kek_id(self) -> str:
        with self._lock:
            return self._refresh_active_locked()

    def wrap(self, data_key: bytes, *, context: bytes) -> WrappedKey:
        from pkcs11 import Mechanism
        from pkcs11.mechanisms import GCMParams

        with self._lock:
            kek_id = self._refresh_active_locked()  # another process may have rotated
            key = self._find_locked(kek_id)
            nonce = secrets.token_bytes(_NONCE)
            params = GCMParams(nonce, wrap_aad(kek_id, context), _TAG_BITS)
            try:
                sealed: bytes = key.encrypt(data_key, mechanism=Mechanism.AES_GCM, mechanism_param=params)
            except self._pkcs11.PKCS11Error as exc:
                raise KeyUnavailable(
                    f"The PKCS#11 token could not wrap a key ({type(exc).__name__})."
                ) from exc
        return WrappedKey(kek_id, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.mechanisms import GCMParams

        blob = wrapped.ciphertext
        if len(blob) < _NONCE + _TAG_BITS // 8:
            raise UnwrapFailed("wrapped key too short")
        with self._lock:
            key = self._find_locked(wrapped.kek_id)
            params = GCMParams(blob[:_NONCE], wrap_aad(wrapped.kek_id, context), _TAG_BITS)
            try:
                plain: bytes = key.decrypt(blob[_NONCE:], mechanism=Mechanism.AES_GCM, mechanism_param=params)
            except self._pkcs11.PKCS11Error as exc:
                # SoftHSM reports a failed tag as CKR_GENERAL_ERROR, others as CKR_ENCRYPTED_DATA_INVALID.
                raise UnwrapFailed("wrapped key does not authenticate under its KEK") from exc
        return plain

    def rotate(self) -> str:
        with self._lock:
            kek_id = self._generate_locked()
            self._set_active_locked(kek_id)
            self._active = kek_id
            return kek_id

    def check(self) -> None:
        with self._lock:
            try:
                self._find_locked(self._active)
            except UnwrapFailed as exc:
                raise KeyUnavailable("The active KEK is no longer on the PKCS#11 token.") from exc

    def close(self) -> None:
        with self._lock:
            self._session.close()
            self._keks.clear()

    # -- internals (hold the lock) --------------------------------------------------------------

    def _find_locked(self, kek_id: str) -> Any:
        cached = self._keks.get(kek_id)
        if cached is not None:
            return cached
        from pkcs11 import Attribute, KeyType, ObjectClass

        try:
            found = list(
                self._session.get_objects(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.AES,
                        Attribute.LABEL: kek_id,
                    }
                )
            )
        except self._pkcs11.PKCS11Error as exc:
            raise KeyUnavailable(f"The PKCS#11 token cannot be searched ({type(exc).__name__}).") from exc
        if len(found) != 1:
            raise UnwrapFailed(f"unknown key-encryption key {kek_id!r}")
        self._keks[kek_id] = found[0]
        return found[0]

    def _generate_locked(self) -> str:
        from pkcs11 import Attribute, KeyType

        kek_id = _new_kek_id()
        template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.MODIFIABLE: False,
            Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True,
            Attribute.WRAP: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
            Attribute.SIGN: False,
            Attribute.VERIFY: False,
        }
        try:
            self._session.generate_key(
                KeyType.AES, 256, label=kek_id, id=kek_id.encode(), store=True, template=template
            )
        except self._pkcs11.PKCS11Error as exc:
            raise KeyUnavailable(
                f"The PKCS#11 token could not generate a KEK ({type(exc).__name__})."
            ) from exc
        return kek_id

    def _refresh_active_locked(self) -> str:
        active = self._read_active()
        if active is None:
            raise KeyUnavailable("The active-KEK marker is missing from the PKCS#11 token.")
        self._active = active
        return active

    def _active_objects(self) -> list[Any]:
        from pkcs11 import Attribute, ObjectClass

        return list(
            self._session.get_objects(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.APPLICATION: APPLICATION,
                    Attribute.LABEL: ACTIVE_LABEL,
                }
            )
        )

    def _read_active(self) -> str | None:
        from pkcs11 import Attribute

        try:
            objects = self._active_objects()
        except self._pkcs11.PKCS11Error as exc:
            raise KeyUnavailable(f"The PKCS#11 token cannot be searched ({type(exc).__name__}).") from exc
        if not objects:
            return None
        # Value "<generation>:<kek id>"; after a crash mid-rotation two markers may exist: newest wins.
        markers = []
        for obj in objects:
            generation, _, kek_id = bytes(obj[Attribute.VALUE]).decode().partition(":")
            markers.append((int(generation), kek_id))
        return max(markers)[1]

    def _set_active_locked(self, kek_id: str) -> None:
        from pkcs11 import Attribute, ObjectClass

        # Create the new marker first, then remove the old ones, so a crash leaves at least one.
        previous = self._active_objects()
        generation = 1 + max(
            (int(bytes(obj[Attribute.VALUE]).decode().partition(":")[0]) for obj in previous), default=0
        )
        self._session.create_object(
            {
                Attribute.CLASS: ObjectClass.DATA,
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.APPLICATION: APPLICATION,
                Attribute.LABEL: ACTIVE_LABEL,
                Attribute.VALUE: f"{generation}:{kek_id}".encode(),
            }
        )
        for obj in previous:
            obj.destroy()
