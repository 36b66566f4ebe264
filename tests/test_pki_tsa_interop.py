"""Interop of POST /pki/tsa with independent RFC 3161 clients: OpenSSL (`openssl ts`) and pyHanko.

The app runs under uvicorn on a loopback port; OpenSSL builds the queries and verifies the replies,
pyHanko requests tokens over HTTP and in-process and validates them with pyhanko-certvalidator.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from fastapi.testclient import TestClient

from sealpact.clock import SystemClock
from sealpact.db import upgrade
from sealpact.pki.tsa import CONTENT_TYPE_QUERY, CONTENT_TYPE_REPLY, der_oid
from sealpact.pki.tsa_models import TsaSerialCounter
from sealpact.pki.tsa_service import (
    BuiltinTimeStamper,
    DatabaseSerialAllocator,
    TsaPolicy,
    TsaService,
    pyhanko_time_stamper,
)
from sealpact.runtime import Runtime
from sealpact.web.app import create_app
from tests.conftest import make_settings
from tests.live_server import LiveServer
from tests.test_pki_tsa_support import TsaChain, make_tsa_chain

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


class Env:
    def __init__(
        self, runtime: Runtime, chain: TsaChain, url: str, pems: dict[str, Path], work: Path
    ) -> None:
        self.runtime = runtime
        self.chain = chain
        self.url = url
        self.pems = pems
        self.work = work


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    work = tmp_path_factory.mktemp("tsa-interop")
    settings = make_settings(work, database_url=f"sqlite:///{work / 'sealpact.db'}")
    runtime = Runtime(settings)
    upgrade(runtime.engine)
    chain = make_tsa_chain()
    runtime.tsa = TsaService(  # type: ignore[misc]
        chain.identity,
        clock=SystemClock(),
        allocator=DatabaseSerialAllocator(runtime.sessions),
        policy=TsaPolicy.from_settings(settings),
    )
    with LiveServer(create_app(runtime)) as server:
        yield Env(runtime, chain, server.url + "/pki/tsa", chain.write_pems(work), work)
    runtime.close()


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=check, timeout=60
    )


def post(env: Env, body: bytes, content_type: str = CONTENT_TYPE_QUERY) -> httpx.Response:
    return httpx.post(env.url, content=body, headers={"Content-Type": content_type}, timeout=30)


def status_of(reply: bytes) -> tuple[str, set[str] | None]:
    outer = core.Sequence.load(reply, strict=True)
    info = tsp.PKIStatusInfo.load(outer[0].dump())
    return info["status"].native, info["fail_info"].native


def issued_count(env: Env) -> int:
    with env.runtime.sessions() as session:
        row = session.get(TsaSerialCounter, "default")
        return 0 if row is None else row.next_serial


@pytest.mark.parametrize(("nonce", "cert"), [(True, True), (False, True), (True, False)])
def test_openssl_query_post_verify(env: Env, nonce: bool, cert: bool, tmp_path: Path) -> None:
    data = tmp_path / "contract.pdf"
    data.write_bytes(b"%PDF-1.7 a contract " * 100)
    query = tmp_path / "request.tsq"
    openssl(
        "ts", "-query", "-data", data, "-sha256", *(["-cert"] if cert else []),
        *([] if nonce else ["-no_nonce"]), "-out", query,
    )  # fmt: skip
    response = post(env, query.read_bytes())
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_REPLY
    assert response.headers["cache-control"] == "no-store"
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(response.content)

    text = openssl("ts", "-reply", "-in", reply, "-text").stdout
    assert "Status: Granted." in text
    assert "Policy OID: 2.25.152076119240893147902210950407467437072.2" in text
    assert "Accuracy: 0x01 seconds" in text
    assert ("Nonce: 0x" in text) is nonce
    assert "TSA: DirName:/C=CN/O=sealpact test/CN=sealpact test TSA" in text

    # With certReq the token carries the TSA and issuing CA certificates; without, the verifier needs them.
    untrusted = env.pems["tsa"] if cert else env.pems["chain"]
    verified = openssl(
        "ts", "-verify", "-data", data, "-in", reply, "-CAfile", env.pems["root"], "-untrusted", untrusted
    )  # fmt: skip
    assert "Verification: OK" in verified.stdout

    other = tmp_path / "other.pdf"
    other.write_bytes(b"another document")
    tampered = openssl(
        "ts", "-verify", "-data", other, "-in", reply, "-CAfile", env.pems["root"], "-untrusted", untrusted,
        check=False,
    )  # fmt: skip
    assert tampered.returncode != 0 and "Verification: OK" not in tampered.stdout


def test_openssl_md5_query_is_rejected(env: Env, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"hello")
    query = tmp_path / "md5.tsq"
    openssl("ts", "-query", "-data", data, "-md5", "-cert", "-out", query)
    before = issued_count(env)
    response = post(env, query.read_bytes())
    assert response.status_code == 200
    assert status_of(response.content) == ("rejection", {"bad_alg"})
    reply = tmp_path / "md5.tsr"
    reply.write_bytes(response.content)
    text = openssl("ts", "-reply", "-in", reply, "-text").stdout
    assert "Status: Rejected." in text
    assert "unrecognized or unsupported algorithm identifier" in text
    assert issued_count(env) == before


def test_wrong_digest_length_is_bad_data_format(env: Env) -> None:
    imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 20})
    body = tsp.TimeStampReq({"version": 1, "message_imprint": imprint, "cert_req": True}).dump()
    response = post(env, body)
    assert response.status_code == 200
    assert status_of(response.content) == ("rejection", {"bad_data_format"})


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x82\xff\xff" + b"\x00" * 10, b"\x30\x80\x00\x00"])
def test_malformed_der_is_a_protocol_rejection(env: Env, body: bytes) -> None:
    before = issued_count(env)
    response = post(env, body)
    assert response.status_code == 200
    assert status_of(response.content) == ("rejection", {"bad_data_format"})
    assert issued_count(env) == before


def test_non_protocol_errors_are_http_4xx(env: Env) -> None:
    query = hashlib.sha256(b"x").digest()
    wrong_type = post(env, query, "application/octet-stream")
    assert wrong_type.status_code == 415
    assert wrong_type.json()["error"]["code"] == "unsupported_media_type"

    limit = env.runtime.settings.tsa_max_request_bytes
    too_big = post(env, b"\x30" * (limit + 1))
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"

    # Without Content-Length (chunked), the limit is enforced while reading.
    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 1000 + 2):
            yield b"\x00" * 1000

    streamed = httpx.post(env.url, content=chunks(), headers={"Content-Type": CONTENT_TYPE_QUERY}, timeout=30)
    assert streamed.status_code == 413

    method = httpx.get(env.url, timeout=30)
    assert method.status_code == 405
    assert set(method.json()["error"]) == {"code", "message"}


def validate_token(token: cms.ContentInfo, digest: bytes, chain: TsaChain) -> Any:
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko.sign.validation.status import TimestampSignatureStatus
    from pyhanko_certvalidator import ValidationContext

    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(chain.der(chain.root))],
        other_certs=[asn1_x509.Certificate.load(chain.der(chain.issuing))],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    kwargs = asyncio.run(
        validate_tst_signed_data(token["content"], context, expected_tst_imprint=lambda _alg: digest)
    )
    return TimestampSignatureStatus(**kwargs)


def test_pyhanko_http_time_stamper(env: Env) -> None:
    from pyhanko.sign.timestamps import HTTPTimeStamper

    digest = hashlib.sha256(b"a PAdES signature value").digest()

    async def fetch() -> cms.ContentInfo:
        stamper = HTTPTimeStamper(env.url, timeout=30)
        try:
            return await stamper.async_timestamp(digest, "sha256")
        finally:
            session = getattr(stamper, "_session", None)
            close = getattr(session, "close", None)
            if close is not None:
                await close()

    token = asyncio.run(fetch())
    status = validate_token(token, digest, env.chain)
    assert status.intact and status.valid and status.trusted, status.summary()


def test_pyhanko_in_process_through_our_time_stamper(env: Env) -> None:
    stamper = pyhanko_time_stamper(BuiltinTimeStamper(env.runtime.tsa))
    digest = hashlib.sha512(b"in process").digest()
    token = asyncio.run(stamper.async_timestamp(digest, "sha512"))
    status = validate_token(token, digest, env.chain)
    assert status.intact and status.valid and status.trusted, status.summary()


def test_pyhanko_sees_a_refusal_as_an_error(env: Env) -> None:
    from pyhanko.sign.timestamps import TimestampRequestError

    stamper = pyhanko_time_stamper(BuiltinTimeStamper(env.runtime.tsa))
    with pytest.raises(TimestampRequestError, match="unsupported hash algorithm"):
        asyncio.run(stamper.async_timestamp(hashlib.sha1(b"weak").digest(), "sha1"))


def test_requested_policy_must_be_offered(env: Env) -> None:
    client = TestClient(create_app(env.runtime))
    digest = hashlib.sha256(b"p").digest()
    imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest})
    for policy, expected in [("1.2.3.4", "rejection"), (env.runtime.tsa.policy.default_policy, "granted")]:
        body = tsp.TimeStampReq({"version": 1, "message_imprint": imprint, "req_policy": policy}).dump()
        response = client.post("/pki/tsa", content=body, headers={"Content-Type": CONTENT_TYPE_QUERY})
        assert status_of(response.content)[0] == expected
    assert der_oid(env.runtime.tsa.policy.default_policy)


def test_platform_tsa_from_the_ca_hierarchy(runtime: Runtime, tmp_path: Path) -> None:
    """The built-in TSA wired to the platform CA: `openssl ts -verify` against the exported root."""
    runtime.pki.ensure_hierarchy()
    (tmp_path / "root.pem").write_bytes(runtime.pki.export_root())
    data = tmp_path / "document"
    data.write_bytes(b"platform time-stamp")
    query = tmp_path / "q.tsq"
    openssl("ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    client = TestClient(create_app(runtime))
    response = client.post(
        "/pki/tsa", content=query.read_bytes(), headers={"Content-Type": CONTENT_TYPE_QUERY}
    )
    assert response.status_code == 200
    reply = tmp_path / "r.tsr"
    reply.write_bytes(response.content)
    # The token carries the TSA and issuing CA certificates, never the root (relying parties bring it).
    token = cms.ContentInfo.load(core.Sequence.load(response.content)[1].dump())
    assert len(token["content"]["certificates"]) == 2
    verified = openssl("ts", "-verify", "-data", data, "-in", reply, "-CAfile", tmp_path / "root.pem")
    assert "Verification: OK" in verified.stdout

    # The configured time-stamper (built-in by default) serves the signing engine the same way.
    stamped = runtime.time_stamper.stamp(query.read_bytes())
    assert stamped.source == "builtin" and stamped.serial > 0


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_rfc3161_client_request_and_verify(env: Env, algorithm: str) -> None:
    """Trail of Bits' rfc3161-client (Rust ASN.1) builds the request and verifies our reply."""
    from rfc3161_client import (
        HashAlgorithm,
        PKIStatus,
        TimestampRequestBuilder,
        VerificationError,
        VerifierBuilder,
        decode_timestamp_response,
    )

    message = b"an RFC 3161 client from elsewhere"
    hash_alg = {"sha256": HashAlgorithm.SHA256, "sha512": HashAlgorithm.SHA512}[algorithm]
    request = TimestampRequestBuilder().data(message).hash_algorithm(hash_alg).nonce(nonce=True).build()
    response = post(env, request.as_bytes())
    assert response.status_code == 200
    reply = decode_timestamp_response(response.content)
    assert reply.status == PKIStatus.GRANTED
    assert reply.tst_info.nonce == request.nonce
    verifier = (
        VerifierBuilder.from_request(request)
        .tsa_certificate(env.chain.tsa)
        .add_intermediate_certificate(env.chain.issuing)
        .add_root_certificate(env.chain.root)
        .build()
    )
    assert verifier.verify_message(reply, message)
    with pytest.raises(VerificationError):
        verifier.verify_message(reply, b"another message")


def test_pyhanko_pdf_document_timestamp_in_process(env: Env) -> None:
    """A PAdES document time-stamp (ETSI EN 319 142-1) made by pyHanko with the in-process TSA."""
    import io

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import PdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.validation import validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    writer = PdfFileWriter()
    media_box = generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)])
    page = generic.DictionaryObject(
        {generic.NameObject("/Type"): generic.NameObject("/Page"), generic.NameObject("/MediaBox"): media_box}
    )
    writer.insert_page(page)
    original = io.BytesIO()
    writer.write(original)
    original.seek(0)

    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(env.chain.der(env.chain.root))], allow_fetching=False
    )
    stamper = signers.PdfTimeStamper(pyhanko_time_stamper(BuiltinTimeStamper(env.runtime.tsa)))
    stamped = io.BytesIO()
    stamper.timestamp_pdf(IncrementalPdfFileWriter(original), "sha256", context, output=stamped)

    signature = PdfFileReader(stamped).embedded_signatures[0]
    status = validate_pdf_timestamp(signature, validation_context=context)
    assert status.intact and status.valid and status.trusted


def test_tsa_before_the_ca_exists_is_a_clean_503(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x00" * 32},
        }
    ).dump()
    response = client.post("/pki/tsa", content=body, headers={"Content-Type": CONTENT_TYPE_QUERY})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "pki_not_initialised"
