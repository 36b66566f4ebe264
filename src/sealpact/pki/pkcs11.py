"""PKI signing keys on a PKCS#11 token (an HSM; SoftHSM2 in tests).

Keys are generated on the token (CKA_SENSITIVE, not CKA_EXTRACTABLE) and every signature is made by the
token. The label and CKA_ID are the key id of the ``pki_keys`` row. One logged-in session is shared and
serialised with a lock: PKCS#11 sessions must not be used from two threads at once (PKCS#11 v2.40
section 6.6.2).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys

from sealpact.pki.errors import KeyStoreError
from sealpact.pki.signing_key import KeyAlgorithm, SigningKey


class Pkcs11Key:
    """A :class:`SigningKey` whose private half never leaves the token."""

    def __init__(
        self, token: Pkcs11Token, key_id: str, algorithm: KeyAlgorithm, private: Any, spki: bytes
    ) -> None:
        self._token = token
        self._key_id = key_id
        self._algorithm = algorithm
        self._private = private
        self._spki = spki

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    def public_key_der(self) -> bytes:
        return self._spki

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11.util.ec import encode_ecdsa_signature

        with self._token.lock:
            if self._algorithm is KeyAlgorithm.EC_P256:
                # CKM_ECDSA over a digest computed here (not every token implements CKM_ECDSA_SHA256);
                # the token returns r || s, X.509 wants the DER ECDSA-Sig-Value (RFC 5480 section 2.2).
                raw = self._private.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
                signature: bytes = encode_ecdsa_signature(raw)
                return signature
            result: bytes = self._private.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
            return result


class Pkcs11Token:
    """An :class:`~sealpact.pki.keys.HsmToken` over python-pkcs11."""

    def __init__(self, module: Path, token_label: str, pin: str) -> None:
        import pkcs11

        if not Path(module).is_file():
            raise KeyStoreError(f"the PKCS#11 module {module} does not exist")
        try:
            token = pkcs11.lib(str(module)).get_token(token_label=token_label)
        except pkcs11.NoSuchToken:
            raise KeyStoreError(f"no PKCS#11 token labelled {token_label!r}") from None
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyStoreError(f"cannot load the PKCS#11 module ({type(exc).__name__})") from exc
        try:
            self._session: Any = token.open(user_pin=pin, rw=True)
        except pkcs11.UserAlreadyLoggedIn:
            # Login state is per process and token (PKCS#11 v2.40 section 5.6.1): another component
            # (e.g. the PKCS#11 key provider) is logged in already, and a new session shares it.
            self._session = token.open(rw=True)
        except pkcs11.PinIncorrect:
            raise KeyStoreError("the PKCS#11 token rejected the PIN") from None
        except pkcs11.PKCS11Error as exc:
            raise KeyStoreError(f"cannot log in to the PKCS#11 token ({type(exc).__name__})") from exc
        self.lock = threading.Lock()

    def generate(self, label: str, algorithm: KeyAlgorithm) -> SigningKey:
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_named_curve_parameters

        private_template = {Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True}
        with self.lock:
            if algorithm is KeyAlgorithm.EC_P256:
                params = self._session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
                )
                public, private = params.generate_keypair(
                    store=True, label=label, id=label.encode(), private_template=private_template
                )
            else:
                public, private = self._session.generate_keypair(
                    KeyType.RSA,
                    3072,
                    store=True,
                    label=label,
                    id=label.encode(),
                    private_template=private_template,
                )
        return Pkcs11Key(self, label, algorithm, private, _spki(public, algorithm))

    def find(self, label: str, algorithm: KeyAlgorithm, public_key_der: bytes) -> SigningKey:
        from pkcs11 import ObjectClass
        from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey

        with self.lock:
            try:
                private = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
                public = self._session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=label)
            except (NoSuchKey, MultipleObjectsReturned) as exc:
                raise KeyStoreError("PKI key not found on the PKCS#11 token") from exc
        spki = _spki(public, algorithm)
        if spki != public_key_der:
            raise KeyStoreError("the key on the PKCS#11 token does not match the recorded public key")
        return Pkcs11Key(self, label, algorithm, private, spki)

    def close(self) -> None:
        with self.lock:
            self._session.close()


def _spki(public: Any, algorithm: KeyAlgorithm) -> bytes:
    from pkcs11.util.ec import encode_ec_public_key
    from pkcs11.util.rsa import encode_rsa_public_key

    if algorithm is KeyAlgorithm.EC_P256:
        der: bytes = encode_ec_public_key(public)
        canonical: bytes = asn1_keys.PublicKeyInfo.load(der).dump()
        return canonical
    rsa_public = encode_rsa_public_key(public)  # PKCS#1 RSAPublicKey
    info = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "rsa", "parameters": None},
            "public_key": asn1_keys.RSAPublicKey.load(rsa_public),
        }
    )
    result: bytes = info.dump()
    return result
