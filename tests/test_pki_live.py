"""The PKI over real HTTP on loopback, checked by other people's code: OpenSSL and pyhanko-certvalidator.

The app is served by uvicorn on a free port and ``public_url`` points there *before* the hierarchy is
created, so the AIA and CRL distribution point URLs inside the certificates resolve to this server.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from asn1crypto import x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as cocsp
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from sqlalchemy import func, select

from sealpact.db import upgrade
from sealpact.pki.models import IssuedCertificate
from sealpact.pki.policy import EKU_DOCUMENT_SIGNING, SubjectIdentity, SubjectKind, VerificationLevel
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider
from sealpact.web.app import create_app
from tests.conftest import MASTER_SECRET, make_settings
from tests.live_server import LiveServer, free_port


@dataclass
class Live:
    runtime: Runtime
    url: str
    dir: Path

    def pem(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def issue(self) -> tuple[str, Path, cx509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        identity = SubjectIdentity(
            SubjectKind.INDIVIDUAL,
            "Zhang San",
            self.runtime.pki.pseudonym("resident_id", "11010519491231002X"),
            VerificationLevel.STANDARD,
            False,
        )
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        info = self.runtime.pki.issue(identity, public_key_der=spki)
        cert = cx509.load_der_x509_certificate(info.der)
        path = self.pem(f"ee-{info.serial}.pem", cert.public_bytes(serialization.Encoding.PEM))
        return info.serial, path, cert


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[Live]:
    port = free_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = make_settings(data_dir, database_url=database_url, public_url=f"http://127.0.0.1:{port}")
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    runtime = Runtime(settings)
    upgrade(runtime.engine)
    runtime.pki.ensure_hierarchy()
    try:
        with LiveServer(create_app(runtime), port) as server:
            live = Live(runtime, server.url, tmp_path)
            live.pem("root.pem", runtime.pki.export_root())
            live.pem("chain.pem", runtime.pki.export_chain())
            issuing = runtime.pki.certificate_der("issuing")
            live.pem(
                "issuing.pem",
                cx509.load_der_x509_certificate(issuing).public_bytes(serialization.Encoding.PEM),
            )
            yield live
    finally:
        runtime.close()


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)


def ocsp_query(live: Live, cert: Path) -> str:
    result = openssl(
        "ocsp",
        "-issuer", live.dir / "issuing.pem",
        "-cert", cert,
        "-url", f"{live.url}/pki/ocsp",
        "-CAfile", live.dir / "root.pem",
        "-resp_text",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr, result.stderr
    return result.stdout


def test_openssl_verify_chain_and_crl(live: Live) -> None:
    _, ee, _ = live.issue()
    _, tsa_chain = live.runtime.pki.tsa_identity()
    tsa = live.pem(
        "tsa.pem",
        cx509.load_der_x509_certificate(tsa_chain[0].dump()).public_bytes(serialization.Encoding.PEM),
    )
    result = openssl(
        "verify", "-CAfile", live.dir / "root.pem", "-untrusted", live.dir / "chain.pem", ee, tsa
    )
    assert result.returncode == 0 and result.stdout.count(": OK") == 2, result.stdout + result.stderr

    crls = []
    for name in ("root", "issuing"):
        response = httpx.get(f"{live.url}/pki/crl/{name}.crl")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/pkix-crl"
        assert "max-age=" in response.headers["cache-control"]
        der = live.pem(f"{name}.crl", response.content)
        check = openssl(
            "crl", "-inform", "DER", "-in", der, "-CAfile", live.dir / "chain.pem", "-verify", "-noout"
        )
        assert check.returncode == 0 and "verify OK" in check.stdout + check.stderr, check.stderr
        pem = openssl("crl", "-inform", "DER", "-in", der, "-outform", "PEM")
        crls.append(pem.stdout)
    live.pem("crls.pem", "".join(crls).encode())
    full = openssl(
        "verify", "-crl_check_all", "-CRLfile", live.dir / "crls.pem",
        "-CAfile", live.dir / "root.pem", "-untrusted", live.dir / "chain.pem", ee,
    )  # fmt: skip
    assert full.returncode == 0, full.stdout + full.stderr


def test_openssl_ocsp_good_then_revoked(live: Live) -> None:
    serial, ee, _ = live.issue()
    text = ocsp_query(live, ee)
    assert f"{ee}: good" in text
    assert "This Update:" in text and "Next Update:" in text

    live.runtime.pki.revoke(serial, "key_compromise")
    text = ocsp_query(live, ee)
    assert f"{ee}: revoked" in text
    assert "Reason: keyCompromise" in text

    # The CRL served afterwards lists it too, and openssl's CRL check now fails the chain.
    der = live.pem("issuing-after.crl", httpx.get(f"{live.url}/pki/crl/issuing.crl").content)
    listing = openssl("crl", "-inform", "DER", "-in", der, "-noout", "-text")
    assert serial.upper() in listing.stdout.replace(":", "").upper()
    assert "Key Compromise" in listing.stdout


def test_openssl_ocsp_unknown_serial_and_nonce(live: Live) -> None:
    result = openssl(
        "ocsp",
        "-issuer", live.dir / "issuing.pem",
        "-serial", "0x1234567890abcdef1234567890abcdef",
        "-url", f"{live.url}/pki/ocsp",
        "-CAfile", live.dir / "root.pem",
        "-resp_text",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ": unknown" in result.stdout
    assert "OCSP Nonce" in result.stdout  # openssl sends a nonce by default and checks the echo
    assert "WARNING: no nonce in response" not in result.stderr


def _ocsp_request(cert: cx509.Certificate, issuer: cx509.Certificate, *, nonce: bool = False) -> bytes:
    builder = cocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(cx509.OCSPNonce(b"0123456789abcdef"), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def test_ocsp_get_is_cacheable_and_post_with_nonce_is_not(live: Live) -> None:
    _, _, cert = live.issue()
    issuer = cx509.load_der_x509_certificate(live.runtime.pki.certificate_der("issuing"))
    encoded = base64.b64encode(_ocsp_request(cert, issuer)).decode()
    response = httpx.get(f"{live.url}/pki/ocsp/{encoded}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    parsed = cocsp.load_der_ocsp_response(response.content)
    assert parsed.response_status is cocsp.OCSPResponseStatus.SUCCESSFUL
    assert parsed.certificate_status is cocsp.OCSPCertStatus.GOOD
    assert parsed.serial_number == cert.serial_number
    # RFC 5019 section 6.2 caching headers agree with the response's own times.
    assert "public" in response.headers["cache-control"] and "max-age=" in response.headers["cache-control"]
    assert parsedate_to_datetime(response.headers["expires"]) == parsed.next_update_utc
    assert parsedate_to_datetime(response.headers["last-modified"]) == parsed.this_update_utc
    assert response.headers["etag"]
    responder = cx509.load_der_x509_certificate(live.runtime.pki.certificate_der("ocsp"))
    assert parsed.certificates[0] == responder
    responder.public_key().verify(  # type: ignore[call-arg, union-attr]
        parsed.signature, parsed.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )
    # URL-encoded slashes and the URL-safe alphabet are accepted as well.
    quoted = encoded.replace("/", "%2F").replace("+", "%2B")
    assert httpx.get(f"{live.url}/pki/ocsp/{quoted}").status_code == 200

    post = httpx.post(
        f"{live.url}/pki/ocsp",
        content=_ocsp_request(cert, issuer, nonce=True),
        headers={"content-type": "application/ocsp-request"},
    )
    answer = cocsp.load_der_ocsp_response(post.content)
    assert answer.certificate_status is cocsp.OCSPCertStatus.GOOD
    assert answer.extensions.get_extension_for_class(cx509.OCSPNonce).value.nonce == b"0123456789abcdef"
    assert post.headers["cache-control"] == "no-store"


def _status(response: httpx.Response) -> cocsp.OCSPResponseStatus:
    return cocsp.load_der_ocsp_response(response.content).response_status


def test_bad_ocsp_input_gets_protocol_errors(live: Live) -> None:
    url = f"{live.url}/pki/ocsp"
    headers = {"content-type": "application/ocsp-request"}
    before = _issued_count(live)
    malformed = httpx.post(url, content=b"\x30\x82\xff\xff garbage", headers=headers)
    assert malformed.status_code == 200 and _status(malformed) is cocsp.OCSPResponseStatus.MALFORMED_REQUEST
    empty = httpx.post(url, content=b"", headers=headers)
    assert _status(empty) is cocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert httpx.get(f"{url}/!!notbase64!!").status_code == 200
    assert _status(httpx.get(f"{url}/!!notbase64!!")) is cocsp.OCSPResponseStatus.MALFORMED_REQUEST

    wrong_type = httpx.post(url, content=b"\x30\x00", headers={"content-type": "application/json"})
    assert wrong_type.status_code == 415 and wrong_type.json()["error"]["code"] == "unsupported_media_type"
    huge = httpx.post(url, content=b"\x30" * 20_000, headers=headers)
    assert huge.status_code == 413

    # A certificate from somebody else's CA: we are not authoritative for it.
    other_key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(cx509.NameOID.COMMON_NAME, "elsewhere")])
    other = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(other_key.public_key())
        .serial_number(7)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
        .sign(other_key, hashes.SHA256())
    )
    foreign = httpx.post(url, content=_ocsp_request(other, other), headers=headers)
    assert _status(foreign) is cocsp.OCSPResponseStatus.UNAUTHORIZED
    assert _issued_count(live) == before


def _issued_count(live: Live) -> int:
    with live.runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(IssuedCertificate)) or 0)


def test_certificate_endpoints(live: Live) -> None:
    der = httpx.get(f"{live.url}/pki/ca/root.crt")
    assert der.status_code == 200 and der.headers["content-type"] == "application/pkix-cert"
    assert der.content == live.runtime.pki.certificate_der("root")
    assert "public" in der.headers["cache-control"]
    pem = httpx.get(f"{live.url}/pki/ca/issuing.crt", params={"format": "pem"})
    assert pem.text.startswith("-----BEGIN CERTIFICATE-----")
    head = httpx.head(f"{live.url}/pki/crl/issuing.crl")  # caches and proxies revalidate with HEAD
    assert head.status_code == 200 and head.headers["etag"] and not head.content
    assert httpx.get(f"{live.url}/pki/ca/nope.crt").status_code == 404
    assert httpx.get(f"{live.url}/pki/crl/nope.crl").status_code == 404
    assert httpx.get(f"{live.url}/pki/crl/tsa.crl").status_code == 404
    assert httpx.get(f"{live.url}/pki/ca/root.crt", params={"format": "xml"}).status_code == 422


def _validate(live: Live, cert: cx509.Certificate, ee_rule: RevocationCheckingRule) -> ValidationContext:
    root = x509.Certificate.load(live.runtime.pki.certificate_der("root"))
    policy = CertRevTrustPolicy(
        RevocationCheckingPolicy(
            # The issuing CA certificate carries only a CRL distribution point (the root signs no OCSP).
            ee_certificate_rule=ee_rule,
            intermediate_ca_cert_rule=RevocationCheckingRule.CRL_REQUIRED,
        )
    )
    leaf = x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    async def run() -> ValidationContext:
        async with AIOHttpFetcherBackend() as fetchers:
            context = ValidationContext(
                trust_roots=[root], allow_fetching=True, revinfo_policy=policy, fetchers=fetchers
            )
            # No intermediates given: the issuing CA is fetched from the AIA caIssuers URL.
            validator = CertificateValidator(leaf, validation_context=context)
            await validator.async_validate_usage(
                {"digital_signature", "non_repudiation"}, {EKU_DOCUMENT_SIGNING, "email_protection"}
            )
            return context

    return asyncio.run(run())


@pytest.mark.parametrize(
    "rule", [RevocationCheckingRule.OCSP_REQUIRED, RevocationCheckingRule.CRL_REQUIRED], ids=["ocsp", "crl"]
)
def test_certvalidator_with_live_revocation(live: Live, rule: RevocationCheckingRule) -> None:
    serial, _, cert = live.issue()
    context = _validate(live, cert, rule)
    if rule is RevocationCheckingRule.OCSP_REQUIRED:
        assert len(context.ocsps) == 1 and len(context.crls) == 1  # EE by OCSP, issuing CA by root CRL
    else:
        assert len(context.crls) == 2  # the issuing CA's CRL and the root's
    live.runtime.pki.revoke(serial, "affiliation_changed")
    with pytest.raises(RevokedError) as caught:
        _validate(live, cert, rule)
    assert "affiliation" in str(caught.value).lower()


def _blank_pdf() -> bytes:
    from io import BytesIO

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 595, 842)]
            ),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
        }
    )
    writer.insert_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_signed_with_an_issued_certificate_validates_then_shows_revoked(live: Live) -> None:
    """A PAdES signature made with one of our certificates, checked by pyHanko (live OCSP) and poppler."""
    from io import BytesIO

    from asn1crypto import keys as asn1_keys
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    identity = SubjectIdentity(
        SubjectKind.ENTERPRISE,
        "厦门示例科技有限公司",
        "91350100M000100Y43",
        VerificationLevel.STANDARD,
        False,
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = live.runtime.pki.issue(identity, public_key_der=spki)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = signers.SimpleSigner(
        signing_cert=info.certificate,
        signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
        cert_registry=SimpleCertificateStore.from_certs(info.chain),
    )
    out = BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(_blank_pdf())),
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=SigSeedSubFilter.PADES),
        signer=signer,
        output=out,
    )
    pdf = live.pem("signed.pdf", out.getvalue())
    root = x509.Certificate.load(live.runtime.pki.certificate_der("root"))

    async def validate() -> object:
        async with AIOHttpFetcherBackend() as fetchers:
            context = ValidationContext(
                trust_roots=[root], allow_fetching=True, revocation_mode="hard-fail", fetchers=fetchers
            )
            reader = PdfFileReader(BytesIO(pdf.read_bytes()))
            return await async_validate_pdf_signature(reader.embedded_signatures[0], context)

    status = asyncio.run(validate())
    assert status.bottom_line and status.trusted and not status.revoked  # type: ignore[attr-defined]

    poppler = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True, timeout=60)
    assert "Signature Validation: Signature is Valid." in poppler.stdout, poppler.stdout
    assert "厦门示例科技有限公司" in poppler.stdout

    live.runtime.pki.revoke(info.serial, "key_compromise")
    status = asyncio.run(validate())
    assert status.revoked and not status.bottom_line  # type: ignore[attr-defined]
