"""Test support for the TSA tests (no tests here): a root -> issuing CA -> TSA certificate chain.

Built with ``cryptography`` directly so the TSA is tested independently of the CA service; the TSA code
only sees a :class:`SigningKey` and DER certificates, as it will with the platform CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sealpact.pki.signing_key import KeyAlgorithm, SoftwareSigningKey
from sealpact.pki.tsa import TsaIdentity

NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2040, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TsaChain:
    root: x509.Certificate
    issuing: x509.Certificate
    tsa: x509.Certificate
    key: SoftwareSigningKey

    @property
    def identity(self) -> TsaIdentity:
        return TsaIdentity(key=self.key, chain=(self.der(self.tsa), self.der(self.issuing)))

    @staticmethod
    def der(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.DER)

    def write_pems(self, directory: Path) -> dict[str, Path]:
        """root.pem, issuing.pem, tsa.pem and chain.pem (TSA + issuing CA) for `openssl ts -verify`."""
        paths = {}
        for name, certs in {
            "root": [self.root],
            "issuing": [self.issuing],
            "tsa": [self.tsa],
            "chain": [self.tsa, self.issuing],
        }.items():
            path = directory / f"{name}.pem"
            path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
            paths[name] = path
        return paths


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sealpact test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def make_tsa_chain(
    *, eku: list[x509.ObjectIdentifier] | None = None, eku_critical: bool = True, rsa: bool = False
) -> TsaChain:
    """Root CA -> issuing CA -> TSA certificate (critical EKU timeStamping by default)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("sealpact test root")
    root = _ca(root_name, root_key, root_name, root_key, 1)
    issuing_key = ec.generate_private_key(ec.SECP256R1())
    issuing_name = _name("sealpact test issuing CA")
    issuing = _ca(issuing_name, issuing_key, root_name, root_key, 2)
    tsa_key = SoftwareSigningKey.generate("tsa-test", KeyAlgorithm.RSA_3072 if rsa else KeyAlgorithm.EC_P256)
    tsa_public = serialization.load_der_public_key(tsa_key.public_key_der())
    assert isinstance(tsa_public, ec.EllipticCurvePublicKey) or rsa
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name("sealpact test TSA"))
        .issuer_name(issuing_name)
        .public_key(tsa_public)  # type: ignore[arg-type]
        .serial_number(0x5EA1_7A5A)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage(eku if eku is not None else [ExtendedKeyUsageOID.TIME_STAMPING]),
            critical=eku_critical,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_public), critical=False)  # type: ignore[arg-type]
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuing_key.public_key()), critical=False
        )
        .sign(issuing_key, hashes.SHA256())
    )
    return TsaChain(root=root, issuing=issuing, tsa=tsa, key=tsa_key)
