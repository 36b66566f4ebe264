"""The PAdES engine against real validators: pyHanko (through verify_pdf), poppler pdfsig, OpenSSL.

Every test runs on SQLite and on PostgreSQL (the ``runtime`` fixture): the CA, OCSP responder and TSA the
engine calls in-process keep their state in the database.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import x509
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader

from sealpact.clock import FrozenClock
from sealpact.pki.signing_key import KeyAlgorithm
from sealpact.pki.tsa_service import HttpTimeStamper
from sealpact.runtime import Runtime
from sealpact.signing import Appearance, FieldSpec, Level, Placement, SigningEngine
from sealpact.signing.archive import refresh_lta
from sealpact.signing.errors import (
    ActiveContent,
    CertificateUnusable,
    DamagedPdf,
    EncryptedPdf,
    FieldError,
    NotAPdf,
    TimestampFailed,
)
from sealpact.signing.verify import verify_pdf
from tests.test_signing_support import byte_ranges, credentials, make_pdf, openssl_cms_verify, pdfsig


@pytest.fixture
def pki(runtime: Runtime) -> Runtime:
    runtime.pki.ensure_hierarchy()
    return runtime


@pytest.fixture
def root(pki: Runtime) -> x509.Certificate:
    return x509.Certificate.load(pki.pki.certificate_der("root"))


@pytest.fixture
def root_pem(pki: Runtime, tmp_path: Path) -> Path:
    path = tmp_path / "root.pem"
    path.write_bytes(pki.pki.export_root())
    return path


def seal_png(color: tuple[int, int, int, int] = (200, 0, 0, 255)) -> bytes:
    image = Image.new("RGBA", (240, 240), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((6, 6, 234, 234), outline=color, width=10)
    draw.regular_polygon((120, 120, 40), 5, fill=color)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def check_externally(tmp_path: Path, data: bytes, root_pem: Path) -> None:
    """pdfsig says every CMS signature is valid; OpenSSL verifies each over its ByteRange content."""
    path = tmp_path / "check.pdf"
    path.write_bytes(data)
    reader = PdfFileReader(io.BytesIO(data))
    kinds = [s.sig_object_type for s in reader.embedded_signatures]
    lines = pdfsig(path).signature_lines
    assert len(lines) == len(kinds)
    for kind, line in zip(kinds, lines, strict=True):
        if kind == "/Sig":
            assert line == "Signature is Valid.", line
        else:  # poppler 22.12 does not implement ETSI.RFC3161 document time-stamps
            assert line.startswith("Signature has not yet been verified"), line
    for (ranges, der), kind in zip(byte_ranges(data), kinds, strict=True):
        if kind == "/Sig":
            assert openssl_cms_verify(tmp_path, data, ranges, der, root_pem).startswith("rc=0"), ranges
        else:
            a, b, c, d = ranges
            (tmp_path / "content.bin").write_bytes(data[a : a + b] + data[c : c + d])
            (tmp_path / "token.der").write_bytes(der)
            result = subprocess.run(
                ["openssl", "ts", "-verify", "-data", str(tmp_path / "content.bin"), "-in",
                 str(tmp_path / "token.der"), "-token_in", "-CAfile", str(root_pem)],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert "Verification: OK" in result.stdout, result.stderr


@pytest.mark.parametrize("level", list(Level))
def test_each_level_validates_everywhere(
    pki: Runtime, root: x509.Certificate, root_pem: Path, tmp_path: Path, level: Level
) -> None:
    creds, _ = credentials(pki)
    engine = SigningEngine(pki)
    original = make_pdf(2)
    result = engine.sign(original, creds, level=level, reason="合同签署")
    data = result.output.read()
    assert data.startswith(original)  # an incremental update: the original bytes are untouched
    report = verify_pdf(data, trust=[root])
    assert report.valid, report.failures()
    signature = report.signatures[0]
    assert signature.level == level.value
    assert signature.intact and signature.trusted and signature.certification == "fill_forms"
    assert signature.signing_time_source == ("claimed" if level is Level.B_B else "timestamp")
    assert signature.ltv is (level.rank >= Level.B_LT.rank)
    if level.rank >= Level.B_LT.rank:
        assert signature.revocation_status.startswith("not revoked at the signing time")
    assert [s.kind for s in report.signatures] == ["signature"] + (
        ["document-timestamp"] if level is Level.B_LTA else []
    )
    check_externally(tmp_path, data, root_pem)


def test_rsa_key_and_untrusted_root(pki: Runtime, root_pem: Path, tmp_path: Path) -> None:
    creds, _ = credentials(pki, algorithm=KeyAlgorithm.RSA_3072)
    data = SigningEngine(pki).sign(make_pdf(1), creds, level=Level.B_T).output.read()
    check_externally(tmp_path, data, root_pem)
    report = verify_pdf(data, trust=[])
    assert not report.valid
    assert not report.signatures[0].trusted and report.signatures[0].intact
    assert any("not trusted" in p for p in report.failures())


def test_three_signers_with_locks(
    pki: Runtime, root: x509.Certificate, root_pem: Path, tmp_path: Path
) -> None:
    engine = SigningEngine(pki)
    specs = [
        FieldSpec(
            f"Party{i}",
            Placement(1, (40 + 180 * i, 90, 200 + 180 * i, 190)),
            Placement(1, (40 + 180 * i, 70, 200 + 180 * i, 86)),
        )
        for i in range(3)
    ]
    doc = engine.prepare_fields(make_pdf(2), specs).read()
    reader = PdfFileReader(io.BytesIO(doc))
    locks = {}
    for ref in reader.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/FT") == "/Sig":
            locks[str(field["/T"])] = sorted(str(f) for f in field["/Lock"]["/Fields"])
    assert locks == {
        "Party0": ["Party0", "Party0_date"],
        "Party1": ["Party0", "Party1", "Party1_date"],
        "Party2": ["Party0", "Party1", "Party2", "Party2_date"],
    }
    names = ["甲科技有限公司", "李四", "王五"]
    for index, name in enumerate(names):
        creds, _ = credentials(pki, name, index)
        appearance = Appearance(specs[index].placement, image_png=seal_png())  # type: ignore[arg-type]
        level = Level.B_LTA if index == 2 else Level.B_T
        result = engine.sign(doc, creds, level=level, field=f"Party{index}", appearance=appearance)
        assert result.certified is (index == 0)
        doc = result.output.read()
    report = verify_pdf(doc, trust=[root])
    assert report.valid, report.failures()
    signatures = [s for s in report.signatures if s.kind == "signature"]
    assert [s.field for s in signatures] == ["Party0", "Party1", "Party2"]
    assert [s.signer_subject.split(",")[0] for s in signatures] == [f"Common Name: {n}" for n in names]
    assert [s.certification for s in signatures] == ["fill_forms", None, None]
    assert signatures[0].modification_level == "form filling and signing"
    # The last signer's DSS (CRLs of both CAs) and document time-stamp lift the earlier ones too.
    assert [s.level for s in signatures] == ["B-LTA", "B-LTA", "B-LTA"]
    check_externally(tmp_path, doc, root_pem)
    # The date fields were filled at signing, inside each signer's own revision.
    dates = {}
    for ref in PdfFileReader(io.BytesIO(doc)).root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/FT") == "/Tx":
            dates[str(field["/T"])] = str(field["/V"])
    assert set(dates) == {"Party0_date", "Party1_date", "Party2_date"} and len(set(dates.values())) == 1

    with pytest.raises(FieldError, match="already signed"):
        engine.sign(doc, credentials(pki, "赵六", 1)[0], level=Level.B_B, field="Party1")


def test_cross_page_seal_on_every_page(pki: Runtime, root: x509.Certificate) -> None:
    engine = SigningEngine(pki)
    box0, box1 = Placement(0, (360, 60, 520, 180)), Placement(3, (40, 60, 200, 160))
    doc = engine.prepare_fields(make_pdf(4), [FieldSpec("Company", box0), FieldSpec("Person", box1)])
    creds, _ = credentials(pki, "甲科技有限公司")
    appearance = Appearance(box0, image_png=seal_png(), cross_page_seal_png=seal_png())
    data = engine.sign(doc, creds, level=Level.B_T, field="Company", appearance=appearance).output.read()
    reader = PdfFileReader(io.BytesIO(data))
    for page_index in range(4):
        page = reader.root["/Pages"]["/Kids"][page_index].get_object()
        stamps = [a.get_object() for a in page["/Annots"] if a.get_object()["/Subtype"] == "/Stamp"]
        assert len(stamps) == 1
        x1, _, x2, _ = (float(v) for v in stamps[0]["/Rect"])
        assert x2 == 595 and 0 < x2 - x1 < 60  # a quarter of a 120 pt seal on the right edge
    assert verify_pdf(data, trust=[root]).valid
    second, _ = credentials(pki, "李四", 1)
    # DocMDP P=2 allows no new annotations after the certification: only the first signer stamps pages.
    stamped = Appearance(box1, image_png=seal_png(), cross_page_seal_png=seal_png())
    with pytest.raises(FieldError, match="first signer"):
        engine.sign(data, second, level=Level.B_B, field="Person", appearance=stamped)
    # Nor new fields: later signers sign the fields created before the certification signature.
    with pytest.raises(FieldError, match="pre-created"):
        engine.sign(data, second, level=Level.B_T, field="Later")
    plain = Appearance(box1, image_png=seal_png((20, 20, 160, 255)))
    data = engine.sign(data, second, level=Level.B_T, field="Person", appearance=plain).output.read()
    report = verify_pdf(data, trust=[root])
    assert report.valid, report.failures()
    assert [s.field for s in report.signatures] == ["Company", "Person"]


def _js_pdf() -> bytes:
    action = generic.DictionaryObject(
        {pdf_name("/S"): pdf_name("/JavaScript"), pdf_name("/JS"): generic.TextStringObject("app.alert(1)")}
    )
    return make_pdf(1, extra_catalog={"/OpenAction": action})


def test_bad_input_is_refused_and_the_original_untouched(pki: Runtime, tmp_path: Path) -> None:
    engine = SigningEngine(pki)
    creds, serial = credentials(pki)
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(make_pdf(1))
    encrypted = tmp_path / "encrypted.pdf"
    subprocess.run(
        ["qpdf", "--encrypt", "user", "owner", "256", "--", str(plain), str(encrypted)], check=True
    )
    damaged = bytearray(plain.read_bytes())
    start = damaged.rindex(b"startxref") + len(b"startxref\n")
    damaged[start : start + 3] = b"999"
    cases = [
        (b"hello, not a pdf", NotAPdf),
        (encrypted.read_bytes(), EncryptedPdf),
        (bytes(damaged), DamagedPdf),
        (_js_pdf(), ActiveContent),
    ]
    for data, error in cases:
        source = tmp_path / "input.pdf"
        source.write_bytes(data)
        before = hashlib.sha256(data).digest()
        with source.open("rb") as handle, pytest.raises(error) as caught:
            engine.sign(handle, creds, level=Level.B_B)
        assert hashlib.sha256(source.read_bytes()).digest() == before
        assert caught.value.code.startswith("signing_")
    # Active content is flagged to the sender, and signable once they accept it.
    with pytest.raises(ActiveContent) as flagged:
        engine.sign(_js_pdf(), creds, level=Level.B_B)
    assert flagged.value.findings == ("JavaScript action in the document open action",)
    accepted = engine.sign(_js_pdf(), creds, level=Level.B_B, accept_findings=True)
    assert accepted.findings == flagged.value.findings

    pki.pki.revoke(serial, "key_compromise")
    with pytest.raises(CertificateUnusable, match="revoked"):
        engine.sign(plain.read_bytes(), creds, level=Level.B_B)


def test_expired_certificate_and_unreachable_tsa(pki: Runtime) -> None:
    creds, _ = credentials(pki)
    later = FrozenClock(pki.clock.now() + timedelta(days=400))
    with pytest.raises(CertificateUnusable, match="expired"):
        SigningEngine(pki, clock=later).sign(make_pdf(1), creds, level=Level.B_B)
    # A TSA that does not answer: signing fails loudly, no signature without a time-stamp.
    dead = HttpTimeStamper("http://127.0.0.1:9/tsa", timeout=2)
    engine = SigningEngine(pki, time_stamper=dead)
    for level in (Level.B_T, Level.B_LTA):
        with pytest.raises(TimestampFailed):
            engine.sign(make_pdf(1), creds, level=level)
    assert engine.sign(make_pdf(1), creds, level=Level.B_B).output.read().startswith(b"%PDF-")
    dead.close()


def test_archival_timestamp_renewal(pki: Runtime, root: x509.Certificate) -> None:
    engine = SigningEngine(pki)
    creds, _ = credentials(pki)
    signed = engine.sign(make_pdf(1), creds, level=Level.B_LTA).output.read()
    kept = refresh_lta(engine, signed)  # the TSA certificate has years left: nothing to do
    assert not kept.renewed and kept.output is None and kept.last_timestamp_expires is not None
    renewed = refresh_lta(engine, signed, force=True)
    assert renewed.renewed and renewed.output is not None
    data = renewed.output.read()
    assert data.startswith(signed)
    report = verify_pdf(data, trust=[root])
    assert report.valid, report.failures()
    assert [s.kind for s in report.signatures] == ["signature", "document-timestamp", "document-timestamp"]
    assert report.signatures[0].level == "B-LTA"
    # Once the TSA certificate's expiry is inside the renewal window, no force is needed.
    due = refresh_lta(engine, signed, window=timedelta(days=40 * 365))
    assert due.renewed and due.reason.startswith("renewed before")


def test_large_file_is_signed_from_a_private_copy(
    pki: Runtime, root: x509.Certificate, tmp_path: Path
) -> None:
    # Above the spool threshold the engine copies the file into a temp file under the data directory and
    # appends there; the caller's file is read, never written.
    source = tmp_path / "large.pdf"
    source.write_bytes(make_pdf(1, payload_bytes=9 << 20))
    before = hashlib.sha256(source.read_bytes()).digest()
    creds, _ = credentials(pki)
    with source.open("rb") as handle:
        result = SigningEngine(pki).sign(handle, creds, level=Level.B_LTA)
    with result.output as signed:
        assert not isinstance(signed, io.BytesIO)
        data = signed.read()
    assert hashlib.sha256(source.read_bytes()).digest() == before
    assert data.startswith(source.read_bytes())
    report = verify_pdf(data, trust=[root])
    assert report.valid and report.signatures[0].level == "B-LTA", report.failures()
