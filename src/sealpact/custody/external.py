"""External-signer mode: the signer's own PKCS#11 token (USB key, smart card; SoftHSM2 in tests).

The private key never leaves the token; the token's user PIN is the signer's PIN and the token enforces
its own retry counter. :class:`ExternalToken` turns a key on the token into the same
:class:`~sealpact.signing.SignerCredentials` the custody keys produce, so the signing engine cannot tell
the difference. :func:`certify_external` issues a platform certificate for such a key after a
proof-of-possession signature made by the token itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from sealpact.custody.errors import ExternalSignerError
from sealpact.pki.errors import KeyStoreError
from sealpact.pki.signing_key import KeyAlgorithm, SigningKey
from sealpact.signing import SignerCredentials

if TYPE_CHECKING:
    from sealpact.pki.pkcs11 import Pkcs11Token
    from sealpact.pki.policy import SubjectIdentity
    from sealpact.pki.service import IssuedInfo
    from sealpact.runtime import Runtime


def _algorithm_of(spki_der: bytes) -> KeyAlgorithm:
    algorithm = asn1_keys.PublicKeyInfo.load(spki_der).algorithm
    return KeyAlgorithm.EC_P256 if algorithm == "ec" else KeyAlgorithm.RSA_3072


class ExternalToken:
    """A logged-in session on the signer's token. Close it after the signing."""

    def __init__(self, module: Path, token_label: str, pin: str) -> None:
        from sealpact.pki.pkcs11 import Pkcs11Token

        try:
            self._token: Pkcs11Token = Pkcs11Token(module, token_label, pin)
        except KeyStoreError as exc:
            # The token's message says what failed (no module, no token, PIN rejected), never the PIN.
            raise ExternalSignerError(f"The signing token cannot be used: {exc}") from None

    def generate(self, label: str, algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256) -> SigningKey:
        """Generate a non-extractable key on the token (enrolment of a blank token)."""
        return self._token.generate(label, algorithm)

    def key(self, label: str, public_key_der: bytes) -> SigningKey:
        """The key labelled ``label``; it must be the one whose public key was certified."""
        try:
            return self._token.find(label, _algorithm_of(public_key_der), public_key_der)
        except KeyStoreError as exc:
            raise ExternalSignerError(f"The signing token cannot be used: {exc}") from None

    def credentials(self, label: str, chain: Sequence[Any]) -> SignerCredentials:
        """Credentials for the key matching the leaf certificate of ``chain`` (leaf first)."""
        leaf = chain[0] if isinstance(chain[0], x509.Certificate) else x509.Certificate.load(chain[0])
        return SignerCredentials.of(self.key(label, leaf.public_key.dump()), chain)

    def close(self) -> None:
        self._token.close()

    def __enter__(self) -> ExternalToken:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def prove_possession(key: SigningKey) -> None:
    """Have ``key`` sign a random challenge and check it against its public key (ExternalSignerError)."""
    challenge = b"sealpact/custody/pop/v1\x00" + secrets.token_bytes(32)
    signature = key.sign(challenge)
    public = serialization.load_der_public_key(key.public_key_der())
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, challenge, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, challenge, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise ExternalSignerError("Unsupported key type on the signing token.")
    except InvalidSignature:
        raise ExternalSignerError("The signing token did not prove possession of its key.") from None


def certify_external(runtime: Runtime, identity: SubjectIdentity, key: SigningKey) -> IssuedInfo:
    """Issue the signer's certificate for a key held on their own token (after proof of possession)."""
    prove_possession(key)
    return runtime.pki.issue(identity, public_key_der=key.public_key_der())
