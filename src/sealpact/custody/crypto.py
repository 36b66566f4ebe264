"""The custody key wrapping (pure, no I/O): Argon2id(PIN) ‖ server share -> HKDF -> AES-256-GCM over PKCS#8.

KEK_user = HKDF-SHA256(ikm = Argon2id(PIN, salt) ‖ server_share, salt = none,
                       info = "sealpact/custody/kek/v1" ‖ 0x00 ‖ key id)          (RFC 5869, RFC 9106)
blob     = nonce(12) ‖ AES-256-GCM(KEK_user, nonce, PKCS#8, aad = "sealpact/custody/pkcs8/v1" ‖ 0x00 ‖ key id)

Both the info and the AAD bind the key id, so a blob copied to another key's row does not open there even
with the right PIN and share. A wrong PIN shows only as a failed GCM tag (:class:`WrongSecret`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SHARE_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
KEK_INFO = b"sealpact/custody/kek/v1\x00"
BLOB_AAD = b"sealpact/custody/pkcs8/v1\x00"


class WrongSecret(Exception):
    """The PIN (or the share) did not open the blob."""


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost, stored with every wrapping so a later cost change never strands old keys."""

    time_cost: int
    memory_kib: int
    parallelism: int

    def encode(self) -> str:
        return f"argon2id$t={self.time_cost},m={self.memory_kib},p={self.parallelism}"

    @classmethod
    def decode(cls, text: str) -> Argon2Params:
        name, _, rest = text.partition("$")
        if name != "argon2id":
            raise ValueError("unknown PIN KDF")
        values = dict(part.split("=", 1) for part in rest.split(","))
        return cls(int(values["t"]), int(values["m"]), int(values["p"]))


def new_share() -> bytes:
    return secrets.token_bytes(SHARE_BYTES)


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def derive_kek(pin: str, salt: bytes, share: bytes, key_id: str, params: Argon2Params) -> bytes:
    """KEK_user for ``key_id``: needs the PIN *and* the server share."""
    stretched = hash_secret_raw(
        pin.encode("ascii"),
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=32,
        type=Type.ID,
    )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEK_INFO + key_id.encode())
    return hkdf.derive(stretched + share)


def seal(kek: bytes, key_id: str, pkcs8: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(kek).encrypt(nonce, pkcs8, BLOB_AAD + key_id.encode())


def open_blob(kek: bytes, key_id: str, blob: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise WrongSecret("blob too short")
    try:
        return AESGCM(kek).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], BLOB_AAD + key_id.encode())
    except InvalidTag:
        raise WrongSecret("the PIN does not open this key") from None
