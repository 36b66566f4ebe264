"""Tables of the PKI domain: CA/TSA/OCSP keys, the authorities (with their CRL state), issued certificates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime


class PkiKey(Base):
    """A CA, TSA or OCSP key pair (or the pseudonym HMAC key).

    Keyring store: the PKCS#8 private key encrypted with AES-256-GCM under a random data key, which is
    wrapped by the key provider's KEK (``wrapped_key``). PKCS#11 store: the key lives on the token under
    the label ``id``; only the public key is here.
    """

    __tablename__ = "pki_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))  # root | issuing | tsa | ocsp | pseudonym
    algorithm: Mapped[str] = mapped_column(String(16))  # ec-p256 | rsa-3072 | hmac-sha256
    store: Mapped[str] = mapped_column(String(16))  # keyring | pkcs11
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # SubjectPublicKeyInfo DER
    encrypted_private: Mapped[bytes | None] = mapped_column(LargeBinary)  # nonce || AES-GCM ciphertext
    wrapped_key: Mapped[str | None] = mapped_column(Text)
    kek_id: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PkiAuthority(Base):
    """One platform identity with a certificate: the root CA, issuing CA, TSA or OCSP responder."""

    __tablename__ = "pki_authorities"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)  # in URLs: /pki/ca/<name>.crt
    role: Mapped[str] = mapped_column(String(16))  # root | issuing | tsa | ocsp
    key_id: Mapped[str] = mapped_column(ForeignKey("pki_keys.id"))
    certificate: Mapped[bytes] = mapped_column(LargeBinary)  # DER
    # Issuer certificates above this one, nearest first, as a PEM bundle (root or an external chain).
    chain_pem: Mapped[str] = mapped_column(Text, default="")
    # A key waiting for an externally signed certificate (`sealpact ca csr` / `ca import`).
    pending_key_id: Mapped[str | None] = mapped_column(ForeignKey("pki_keys.id"))
    crl_number: Mapped[int] = mapped_column(BigInteger, default=0)
    crl: Mapped[bytes | None] = mapped_column(LargeBinary)
    crl_this_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    crl_next_update: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IssuedCertificate(Base):
    """Every certificate an authority of ours signed; the source of truth for CRL and OCSP."""

    __tablename__ = "pki_certificates"
    __table_args__ = (Index("ix_pki_certificates_issuer_status", "issuer_id", "status"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)  # lowercase hex, never reused
    issuer_id: Mapped[str] = mapped_column(ForeignKey("pki_authorities.id"))
    kind: Mapped[str] = mapped_column(String(16))  # end_entity | ca | tsa | ocsp
    certificate: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # good | revoked | on_hold
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    replaces_id: Mapped[str | None] = mapped_column(String(36))  # renewal / re-key of that certificate
    identity: Mapped[str | None] = mapped_column(Text)  # SubjectIdentity as JSON (end entities)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
