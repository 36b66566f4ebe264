# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""The CMS SignedData for a PAdES signature, assembled from cached DER (RFC 5652, ETSI EN 319 122-1).

pyHanko's generic path rebuilds every certificate and attribute through asn1crypto on each signature and,
without ``bytes_reserved``, once more as a dry run. The structure of a PAdES baseline signature is fixed,
so :class:`KeySigner` prepares everything that depends only on the signer (certificate set, sid, the ESS
signing-certificate-v2 attribute, algorithm identifiers) once, and per signature only encodes the message
digest, calls :meth:`SigningKey.sign` once over the signed attributes and adds the time-stamp token.
Anything outside that shape (other digests, encapsulated content) goes to pyHanko's generic code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from asn1crypto import algos, cms, x509
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from sealpact.pki.signing_key import KeyAlgorithm, SigningKey

# Object identifiers, DER-encoded (tag + length + value).
OID_DATA = bytes.fromhex("06092a864886f70d010701")  # id-data
OID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")  # id-signedData
OID_CONTENT_TYPE = bytes.fromhex("06092a864886f70d010903")
OID_MESSAGE_DIGEST = bytes.fromhex("06092a864886f70d010904")
OID_SIGNING_CERT_V2 = bytes.fromhex("060b2a864886f70d010910022f")  # RFC 5035 id-aa-signingCertificateV2
OID_TIMESTAMP_TOKEN = bytes.fromhex("060b2a864886f70d010910020e")  # RFC 3161 id-aa-timeStampToken
OID_CMS_ALG_PROTECT = bytes.fromhex("06092a864886f70d010934")  # RFC 6211 id-aa-CMSAlgorithmProtection
ALG_SHA256 = bytes.fromhex("300d06096086480165030402010500")
ALG_ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")
ALG_RSA_SHA256 = bytes.fromhex("300d06092a864886f70d01010b0500")

# Largest DER signature values: ECDSA P-256 (SEQUENCE of two 33-byte INTEGERs), RSA-3072 (384 bytes).
MAX_SIGNATURE_BYTES = {KeyAlgorithm.EC_P256: 72, KeyAlgorithm.RSA_3072: 384}


def der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def tlv(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    return bytes([tag]) + der_length(len(content)) + content


def der_set_of(items: Sequence[bytes]) -> bytes:
    # X.690 section 11.6: the components of a DER SET OF are sorted by their encodings.
    return tlv(0x31, *sorted(items))


class KeySigner(Signer):
    """A pyHanko ``Signer`` over a :class:`SigningKey` and its certificate chain (leaf first).

    The raw signature always comes from ``key.sign`` (software key, custody-unlocked key or HSM alike).
    """

    def __init__(self, key: SigningKey, chain: Sequence[x509.Certificate], *, embed_root: bool = False):
        if not chain:
            raise ValueError("a certificate chain starts with the signer's certificate")
        # Work from DER-loaded objects: their dump() is the cached encoding, not a re-serialisation.
        certs = [x509.Certificate.load(cert.dump()) for cert in chain]
        leaf = certs[0]
        if leaf.public_key.dump() != key.public_key_der():
            raise ValueError("the certificate does not belong to this key")
        if not embed_root:
            certs = [leaf] + [c for c in certs[1:] if c.self_signed == "no"]
        self.key = key
        self.chain = tuple(certs)
        mechanism = "ecdsa" if key.algorithm is KeyAlgorithm.EC_P256 else "sha256_rsa"
        super().__init__(
            signing_cert=leaf,
            cert_registry=SimpleCertificateStore.from_certs(certs[1:]),
            signature_mechanism=algos.SignedDigestAlgorithm(
                {"algorithm": "sha256_ecdsa" if mechanism == "ecdsa" else "sha256_rsa"}
            ),
            embed_roots=embed_root,
        )
        leaf_der = leaf.dump()
        self._sig_alg = ALG_ECDSA_SHA256 if key.algorithm is KeyAlgorithm.EC_P256 else ALG_RSA_SHA256
        self._certificates = tlv(0xA0, *(c.dump() for c in certs))  # [0] IMPLICIT CertificateSet
        issuer_serial = tlv(0x30, leaf.issuer.dump(), leaf["tbs_certificate"]["serial_number"].dump())
        self._sid = issuer_serial
        # ESS signing-certificate-v2 (RFC 5035), required by EN 319 122-1 section 5.2.2 for baseline
        # signatures: ESSCertIDv2 with the default hash (SHA-256, so hashAlgorithm is omitted) and the
        # IssuerSerial of the certificate.
        general_names = tlv(0x30, tlv(0xA4, leaf.issuer.dump()))
        issuer_serial_v2 = tlv(0x30, general_names, leaf["tbs_certificate"]["serial_number"].dump())
        cert_id = tlv(0x30, tlv(0x04, hashlib.sha256(leaf_der).digest()), issuer_serial_v2)
        signing_cert_v2 = tlv(0x30, tlv(0x30, cert_id))
        self._fixed_attrs = [
            tlv(0x30, OID_CONTENT_TYPE, tlv(0x31, OID_DATA)),
            tlv(0x30, OID_SIGNING_CERT_V2, tlv(0x31, signing_cert_v2)),
            # RFC 6211: binds the digest and signature algorithms into the signed attributes.
            tlv(
                0x30,
                OID_CMS_ALG_PROTECT,
                tlv(0x31, tlv(0x30, ALG_SHA256, bytes([0xA1]) + self._sig_alg[1:])),
            ),
        ]
        self.static_size = len(self._certificates) + 2 * len(leaf.issuer.dump()) + 600
        self.max_signature = MAX_SIGNATURE_BYTES[key.algorithm]

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != "sha256":
            raise ValueError("only SHA-256 signatures are produced")
        if dry_run:
            return bytes(self.max_signature)
        return self.key.sign(data)

    def signed_attributes(self, digest: bytes) -> bytes:
        """DER SignedAttributes (SET OF Attribute) over a SHA-256 content digest."""
        message_digest = tlv(0x30, OID_MESSAGE_DIGEST, tlv(0x31, tlv(0x04, digest)))
        return der_set_of([*self._fixed_attrs, message_digest])

    def assemble(self, signed_attrs: bytes, signature: bytes, timestamp_token: bytes | None) -> bytes:
        """DER ContentInfo(SignedData) for a detached PAdES signature (RFC 5652 section 5)."""
        unsigned = b""
        if timestamp_token is not None:
            # EN 319 122-1 section 5.3: the signature-time-stamp is an unsigned attribute over the value
            # of the signature field.
            attr = tlv(0x30, OID_TIMESTAMP_TOKEN, tlv(0x31, timestamp_token))
            unsigned = tlv(0xA1, attr)
        signer_info = tlv(
            0x30,
            b"\x02\x01\x01",  # version 1: issuerAndSerialNumber
            self._sid,
            ALG_SHA256,
            b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT: the SET's tag replaced
            self._sig_alg,
            tlv(0x04, signature),
            unsigned,
        )
        signed_data = tlv(
            0x30,
            b"\x02\x01\x01",  # version 1 (RFC 5652 section 5.1: id-data content, no v2+ structures)
            tlv(0x31, ALG_SHA256),
            tlv(0x30, OID_DATA),  # detached: eContent absent
            self._certificates,
            tlv(0x31, signer_info),
        )
        return tlv(0x30, OID_SIGNED_DATA, tlv(0xA0, signed_data))

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: Any = None,
        signed_attr_settings: Any = None,
        is_pdf_sig: bool = True,
        encap_content_info: Any = None,
    ) -> cms.ContentInfo:
        fast = (
            digest_algorithm == "sha256"
            and use_pades
            and is_pdf_sig
            and encap_content_info is None
            and (signed_attr_settings is None or signed_attr_settings.cades_signed_attrs is None)
            and self.signed_attr_prov_spec is None
            and self.unsigned_attr_prov_spec is None
        )
        if not fast:
            return await super().async_sign(
                data_digest,
                digest_algorithm,
                dry_run=dry_run,
                use_pades=use_pades,
                timestamper=timestamper,
                signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info,
            )
        attrs = self.signed_attributes(data_digest)
        signature = await self.async_sign_raw(attrs, "sha256", dry_run=dry_run)
        token: bytes | None = None
        if timestamper is not None:
            if dry_run:
                stamped = await timestamper.async_dummy_response("sha256")
            else:
                stamped = await timestamper.async_timestamp(hashlib.sha256(signature).digest(), "sha256")
            token = stamped.dump()
        return cms.ContentInfo.load(self.assemble(attrs, signature, token))
