"""`sealpact verify`: tampering is caught and named; exit codes 0 / 1 / 2; JSON shape; trust roots."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from sealpact.cli.main import cli
from sealpact.runtime import Runtime
from sealpact.signing import FieldSpec, Level, Placement, SigningEngine
from tests.conftest import MASTER_SECRET
from tests.test_signing_support import byte_ranges, credentials, make_pdf


def _env(runtime: Runtime) -> dict[str, str]:
    return {
        "SEALPACT_DATA_DIR": str(runtime.settings.data_dir),
        "SEALPACT_DATABASE_URL": runtime.settings.database_url,
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
        "SEALPACT_PUBLIC_URL": runtime.settings.public_url,
    }


@pytest.fixture
def signed(runtime: Runtime, tmp_path: Path) -> Path:
    """A contract signed by three parties in turn (B-T, B-T, B-LTA), with locked, pre-created fields."""
    runtime.pki.ensure_hierarchy()
    engine = SigningEngine(runtime)
    specs = [FieldSpec(f"Party{i}", Placement(0, (40 + 180 * i, 60, 200 + 180 * i, 140))) for i in range(3)]
    doc = engine.prepare_fields(make_pdf(2), specs).read()
    for index, name in enumerate(["甲科技有限公司", "李四", "王五"]):
        creds, _ = credentials(runtime, name, index)
        level = Level.B_LTA if index == 2 else Level.B_T
        doc = engine.sign(doc, creds, level=level, field=f"Party{index}").output.read()
    path = tmp_path / "contract.pdf"
    path.write_bytes(doc)
    return path


def verify(runtime: Runtime, *args: str) -> Result:
    return CliRunner().invoke(cli, ["verify", *args], env=_env(runtime))


def test_a_good_contract_verifies(runtime: Runtime, signed: Path, tmp_path: Path) -> None:
    result = verify(runtime, str(signed))
    assert result.exit_code == 0, result.output
    assert f"{signed}: VALID" in result.output
    assert "certification signature (DocMDP fill_forms)" in result.output
    assert result.output.count("PAdES level:   B-LTA; LTV: yes") == 3

    as_json = verify(runtime, str(signed), "--json")
    assert as_json.exit_code == 0
    report = json.loads(as_json.stdout)
    assert report["valid"] is True
    assert [s["field"] for s in report["signatures"]][:3] == ["Party0", "Party1", "Party2"]
    for item in report["signatures"]:
        assert item["intact"] is True and item["trusted"] is True
    assert [s["level"] for s in report["signatures"]] == ["B-LTA", "B-LTA", "B-LTA", None]

    # Other roots only when given: without the platform root nothing is trusted...
    alone = verify(runtime, str(signed), "--no-platform-root", "--json")
    assert alone.exit_code == 1
    assert all(s["trusted"] is False for s in json.loads(alone.stdout)["signatures"])
    # ...and an explicitly given root (the exported platform root) is.
    root = tmp_path / "root.pem"
    root.write_bytes(runtime.pki.export_root())
    given = verify(runtime, str(signed), "--no-platform-root", "--trust", str(root))
    assert given.exit_code == 0, given.output


def test_a_flipped_byte_in_a_signed_range(runtime: Runtime, signed: Path) -> None:
    data = bytearray(signed.read_bytes())
    at = data.index(b"Contract page 1")
    assert at < byte_ranges(bytes(data))[0][0][1]  # inside the first signature's first range
    data[at] = ord("K")
    signed.write_bytes(bytes(data))
    result = verify(runtime, str(signed))
    assert result.exit_code == 1
    assert "INVALID" in result.output
    assert "#1 Party0: certification signature" in result.output
    assert "FAILED:        the signature does not match the signed bytes" in result.output
    assert "intact:        NO" in result.output


def test_an_appended_revision_that_changes_page_content(runtime: Runtime, signed: Path) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed.read_bytes()))
    page_ref = writer.find_page_for_modification(0)[0]
    page = page_ref.get_object()
    forged = generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 760 Td (Price: 1 yuan) Tj ET")
    page[pdf_name("/Contents")] = writer.add_object(forged)
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    signed.write_bytes(out.getvalue())
    result = verify(runtime, str(signed), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    party0 = report["signatures"][0]
    assert party0["intact"] is True  # the signed revision itself is untouched...
    assert party0["modification_level"] == "other (not allowed)"  # ...but what came after is not allowed
    assert any("unexplained modification" in p for p in party0["problems"])
    assert party0["unexplained_changes"]


def test_a_removed_signature(runtime: Runtime, signed: Path) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed.read_bytes()))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == "Party1":
            del field["/V"]  # Party1's signature is gone from the document
            writer.mark_update(ref)
    out = io.BytesIO()
    writer.write(out)
    signed.write_bytes(out.getvalue())
    result = verify(runtime, str(signed))
    assert result.exit_code == 1
    assert "Party1" not in [line.split()[1] for line in result.output.splitlines() if line.startswith("#")]
    assert "#1 Party0" in result.output and "FAILED:" in result.output
    assert "unexplained modification after signing" in result.output


def test_unreadable_input_exits_2(runtime: Runtime, tmp_path: Path) -> None:
    not_pdf = tmp_path / "notes.pdf"
    not_pdf.write_bytes(b"just some text")
    result = verify(runtime, str(not_pdf))
    assert result.exit_code == 2 and "[signing_not_a_pdf]" in result.output
    missing = verify(runtime, str(tmp_path / "missing.pdf"))
    assert missing.exit_code == 2
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(make_pdf(1))
    plain = verify(runtime, str(unsigned), "--json")
    assert plain.exit_code == 1 and json.loads(plain.stdout)["problems"] == ["the document has no signatures"]


def test_offline_without_a_data_dir(runtime: Runtime, signed: Path, tmp_path: Path) -> None:
    # No data directory, no database: only --trust roots; nothing is created as a side effect.
    root = tmp_path / "root.pem"
    root.write_bytes(runtime.pki.export_root())
    empty = tmp_path / "nowhere"
    env = {"SEALPACT_DATA_DIR": str(empty)}
    result = CliRunner().invoke(cli, ["verify", str(signed), "--trust", str(root)], env=env)
    assert result.exit_code == 0, result.output
    assert not empty.exists()


def test_single_byte_flips_never_crash_and_never_pass_outside_the_holes(runtime: Runtime) -> None:
    import random

    from asn1crypto import x509

    from sealpact.signing.errors import SigningError
    from sealpact.signing.verify import verify_pdf

    runtime.pki.ensure_hierarchy()
    creds, _ = credentials(runtime)
    data = SigningEngine(runtime).sign(make_pdf(2), creds, level=Level.B_LTA).output.read()
    root = x509.Certificate.load(runtime.pki.certificate_der("root"))
    holes = [(r[0] + r[1], r[2]) for r, _ in byte_ranges(data)]
    rng = random.Random(20261122)
    for _ in range(60):
        flipped = bytearray(data)
        position = rng.randrange(len(data))
        flipped[position] ^= 1 << rng.randrange(8)
        try:
            report = verify_pdf(bytes(flipped), trust=[root])
        except SigningError:
            continue  # a typed "not a readable PDF" error
        if report.valid:  # only the unsigned /Contents placeholder padding may change unnoticed
            assert any(start <= position < end for start, end in holes), position
        else:
            assert report.failures()


def test_revoked_after_signing_stays_valid(runtime: Runtime) -> None:
    """A certificate revoked after the signature's time-stamp does not invalidate it (EN 319 102-1)."""
    import time

    from asn1crypto import x509

    from sealpact.signing.verify import verify_pdf

    runtime.pki.ensure_hierarchy()
    engine = SigningEngine(runtime)
    doc = engine.prepare_fields(make_pdf(1), [FieldSpec("A"), FieldSpec("B")]).read()
    first, serial = credentials(runtime, "甲", 0)
    doc = engine.sign(doc, first, level=Level.B_T, field="A").output.read()
    time.sleep(1.1)  # CRL revocation times have one-second resolution; keep them after the time-stamp
    runtime.pki.revoke(serial, "key_compromise")
    second, _ = credentials(runtime, "乙", 1)
    doc = engine.sign(doc, second, level=Level.B_LTA, field="B").output.read()  # its DSS lists A's revocation
    root = x509.Certificate.load(runtime.pki.certificate_der("root"))
    report = verify_pdf(doc, trust=[root])
    assert report.valid, report.failures()
    assert [s.level for s in report.signatures if s.kind == "signature"] == ["B-LTA", "B-LTA"]
    # Judged at a time after the revocation instead, the first signature fails and says why.
    late = verify_pdf(doc, trust=[root], at=runtime.clock.now())
    assert not late.valid
    assert any(p.startswith("A: the certificate was revoked") for p in late.failures()), late.failures()


def _set_text(data: bytes, name: str, value: str) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == name:
            field[pdf_name("/V")] = generic.TextStringObject(value)
            writer.mark_update(ref)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_field_locks_catch_a_changed_date(runtime: Runtime) -> None:
    from asn1crypto import x509

    from sealpact.signing.verify import verify_pdf

    runtime.pki.ensure_hierarchy()
    engine = SigningEngine(runtime)
    specs = [
        FieldSpec(
            f"Party{i}",
            Placement(0, (40 + 200 * i, 90, 200 + 200 * i, 170)),
            Placement(0, (40 + 200 * i, 70, 200 + 200 * i, 86)),
        )
        for i in range(2)
    ]
    doc = engine.prepare_fields(make_pdf(1), specs).read()
    doc = engine.sign(doc, credentials(runtime)[0], level=Level.B_T, field="Party0").output.read()
    root = x509.Certificate.load(runtime.pki.certificate_der("root"))
    # Filling the next party's (unlocked) field is form filling, which the certification allows...
    allowed = verify_pdf(_set_text(doc, "Party1_date", "2026-11-23"), trust=[root])
    assert allowed.valid, allowed.failures()
    assert allowed.signatures[0].modification_level == "form filling and signing"
    # ...changing the date Party0's own signature locked is not, and the report names the field.
    forged = verify_pdf(_set_text(doc, "Party0_date", "2020-01-01"), trust=[root])
    assert not forged.valid
    assert any("Party0_date is locked" in problem for problem in forged.failures()), forged.failures()
