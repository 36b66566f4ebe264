"""The one signing interface every PKI component uses, whether the key is in memory or in an HSM.

CA, OCSP and TSA code never touches private key objects: it hands bytes to a :class:`SigningKey` and
gets a signature back, so the same builders work for a software key unwrapped from the keyring and for
a non-extractable key on a PKCS#11 token.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


class KeyAlgorithm(StrEnum):
    EC_P256 = "ec-p256"  # default: ECDSA P-256 with SHA-256
    RSA_3072 = "rsa-3072"  # option: RSA PKCS#1 v1.5 with SHA-256


class SigningKey(Protocol):
    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> KeyAlgorithm: ...

    def public_key_der(self) -> bytes:
        """The SubjectPublicKeyInfo, DER-encoded."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with SHA-256: a DER ECDSA-Sig-Value for EC, PKCS#1 v1.5 for RSA."""
        ...


class SoftwareSigningKey:
    """A private key held in process memory (after unwrapping from the keyring, or in tests)."""

    def __init__(self, key_id: str, private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
        self._key_id = key_id
        self._private_key = private_key
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            if not isinstance(private_key.curve, ec.SECP256R1):
                raise ValueError("only P-256 EC keys are supported")
            self._algorithm = KeyAlgorithm.EC_P256
        else:
            self._algorithm = KeyAlgorithm.RSA_3072
        self._spki = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def generate(cls, key_id: str, algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256) -> SoftwareSigningKey:
        if algorithm is KeyAlgorithm.EC_P256:
            return cls(key_id, ec.generate_private_key(ec.SECP256R1()))
        return cls(key_id, rsa.generate_private_key(public_exponent=65537, key_size=3072))

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    def public_key_der(self) -> bytes:
        return self._spki

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._private_key, ec.EllipticCurvePrivateKey):
            return self._private_key.sign(data, ec.ECDSA(hashes.SHA256()))
        return self._private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def private_key_pkcs8(self) -> bytes:
        """PKCS#8 DER for wrapping by the key store; callers must encrypt it before it goes anywhere."""
        return self._private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
