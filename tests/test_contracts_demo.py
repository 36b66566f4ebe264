"""``sealpact demo``: a complete contract with no prior setup, checked with pyHanko and poppler's pdfsig."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyhanko.pdf_utils.reader import PdfFileReader

from sealpact.cli.main import cli


def test_demo_writes_a_signed_contract_its_certificate_and_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "out")], obj={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "completed, 2 signatures" in result.output
    out = tmp_path / "out"
    signed = (out / "contract-signed.pdf").read_bytes()
    reader = PdfFileReader(io.BytesIO(signed))
    assert [s.field_name for s in reader.embedded_regular_signatures] == ["party0", "party1"]
    assert len(reader.embedded_timestamp_signatures) == 1  # B-LTA
    certificate = PdfFileReader(io.BytesIO((out / "certificate-of-completion.pdf").read_bytes()))
    assert len(certificate.embedded_timestamp_signatures) == 1
    assert (out / "root.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert not list(tmp_path.glob("var*"))  # nothing left behind but the outputs
    if shutil.which("pdfsig"):
        text = subprocess.run(
            ["pdfsig", str(out / "contract-signed.pdf")], capture_output=True, text=True
        ).stdout
        assert text.count("Signature Validation: Signature is Valid.") == 2
        assert "示例科技有限公司" in text  # the enterprise's certificate
