"""`sealpact signing refresh-lta`: renews the archival time-stamp chain only when due (or forced)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sealpact.cli.main import cli
from sealpact.runtime import Runtime
from sealpact.signing import Level, SigningEngine
from tests.test_signing_support import credentials, make_pdf
from tests.test_signing_verify import _env


def test_refresh_lta(runtime: Runtime, tmp_path: Path) -> None:
    runtime.pki.ensure_hierarchy()
    creds, _ = credentials(runtime)
    path = tmp_path / "contract.pdf"
    path.write_bytes(SigningEngine(runtime).sign(make_pdf(1), creds, level=Level.B_LTA).output.read())
    original = path.read_bytes()
    runner = CliRunner()
    env = _env(runtime)

    kept = runner.invoke(cli, ["signing", "refresh-lta", str(path)], env=env)
    assert kept.exit_code == 0, kept.output
    assert kept.output.startswith("not renewed: the newest time-stamp is valid until")
    assert path.read_bytes() == original

    out = tmp_path / "renewed.pdf"
    renewed = runner.invoke(cli, ["signing", "refresh-lta", str(path), "--force", "--out", str(out)], env=env)
    assert renewed.exit_code == 0, renewed.output
    assert path.read_bytes() == original and out.read_bytes().startswith(original)
    report = runner.invoke(cli, ["verify", str(out), "--json"], env=env)
    assert report.exit_code == 0, report.output
    kinds = [s["kind"] for s in json.loads(report.stdout)["signatures"]]
    assert kinds == ["signature", "document-timestamp", "document-timestamp"]

    # Due within the window: renewed in place, atomically.
    due = runner.invoke(cli, ["signing", "refresh-lta", str(path), "--within-days", "3650"], env=env)
    assert due.exit_code == 0 and due.output.startswith("renewed (renewed before"), due.output
    assert path.read_bytes().startswith(original) and len(path.read_bytes()) > len(original)

    not_pdf = tmp_path / "x.pdf"
    not_pdf.write_bytes(b"nope")
    bad = runner.invoke(cli, ["signing", "refresh-lta", str(not_pdf)], env=env)
    assert bad.exit_code == 1 and "[signing_not_a_pdf]" in bad.output
