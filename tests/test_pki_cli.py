"""`sealpact init` / `sealpact ca ...`: hierarchy at init, exports, and an issuing CA under an external CA."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sealpact.cli.ca import init_pki
from sealpact.cli.core import init_steps
from sealpact.cli.main import cli
from sealpact.pki.errors import ImportRejected, InvalidState
from sealpact.runtime import Runtime
from tests.conftest import MASTER_SECRET, make_settings

PSEUDONYM = "SP1-" + "A" * 32


def _env(runtime: Runtime) -> dict[str, str]:
    return {
        "SEALPACT_DATA_DIR": str(runtime.settings.data_dir),
        "SEALPACT_DATABASE_URL": runtime.settings.database_url,
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
        "SEALPACT_PUBLIC_URL": runtime.settings.public_url,
    }


def openssl(cwd: Path, *args: str) -> str:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_init_creates_the_hierarchy_once(tmp_path: Path) -> None:
    assert init_pki in init_steps()
    data_dir = tmp_path / "var"
    env = {
        "SEALPACT_DATA_DIR": str(data_dir),
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
        "SEALPACT_PUBLIC_URL": "https://sign.example.cn/",
    }
    runner = CliRunner()
    first = runner.invoke(cli, ["init"], env=env)
    assert first.exit_code == 0, first.output
    assert "CA hierarchy: created root, issuing, tsa, ocsp" in first.output
    again = runner.invoke(cli, ["init"], env=env)
    assert again.exit_code == 0 and "CA hierarchy present" in again.output

    root = runner.invoke(cli, ["ca", "export-root"], env=env)
    assert root.exit_code == 0 and root.stdout.startswith("-----BEGIN CERTIFICATE-----")
    chain = runner.invoke(cli, ["ca", "export-chain"], env=env)
    certs = cx509.load_pem_x509_certificates(chain.stdout_bytes)
    assert [c.subject.rfc4514_string() for c in certs] == [
        "CN=sealpact Issuing CA,O=sealpact,C=CN",
        "CN=sealpact Root CA,O=sealpact,C=CN",
    ]
    dp = certs[0].extensions.get_extension_for_class(cx509.CRLDistributionPoints).value
    assert dp[0].full_name[0].value == "https://sign.example.cn/pki/crl/root.crl"  # type: ignore[index]
    (tmp_path / "root.pem").write_text(root.stdout)
    (tmp_path / "chain.pem").write_text(chain.stdout)
    openssl(tmp_path, "verify", "-CAfile", "root.pem", "chain.pem")


def test_cli_issue_revoke_and_errors(runtime: Runtime, tmp_path: Path) -> None:
    runner, env = CliRunner(), _env(runtime)
    assert runner.invoke(cli, ["ca", "export-root"], env=env).exit_code == 1  # no hierarchy yet
    assert runner.invoke(cli, ["ca", "init", "--algorithm", "ec-p256"], env=env).exit_code == 0
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    issue = [
        "ca", "issue", "--name", "Zhao Liu", "--id-type", "resident_id", "--id-number", "11010519491231002X",
        "--level", "2", "--public-key", str(tmp_path / "key.pem"), "--out", str(tmp_path / "ee.pem"),
    ]  # fmt: skip
    issued = runner.invoke(cli, issue, env=env)
    assert issued.exit_code == 0, issued.output
    cert = cx509.load_pem_x509_certificate((tmp_path / "ee.pem").read_bytes())
    assert "11010519491231002X" not in issued.output
    serial = format(cert.serial_number, "x")

    revoked = runner.invoke(cli, ["ca", "revoke", serial, "--reason", "certificate_hold"], env=env)
    assert revoked.exit_code == 0 and "on_hold" in revoked.output
    assert runner.invoke(cli, ["ca", "release-hold", serial], env=env).exit_code == 0
    renewed = runner.invoke(cli, ["ca", "renew", serial, "--days", "7"], env=env)
    assert renewed.exit_code == 0 and "-----BEGIN CERTIFICATE-----" in renewed.stdout

    bad_serial = runner.invoke(cli, ["ca", "revoke", "not-hex"], env=env)
    assert bad_serial.exit_code == 1 and "[pki_invalid_request]" in bad_serial.output
    unknown = runner.invoke(cli, ["ca", "revoke", "abcdef0123"], env=env)
    assert unknown.exit_code == 1 and "[pki_certificate_not_found]" in unknown.output
    (tmp_path / "junk.csr").write_bytes(b"junk")
    junk = runner.invoke(
        cli,
        ["ca", "issue", "--name", "X", "--pseudonym", PSEUDONYM, "--csr", str(tmp_path / "junk.csr")],
        env=env,
    )
    assert junk.exit_code == 1 and "[pki_invalid_request]" in junk.output
    enterprise_args = ["--kind", "enterprise", "--name", "X", "--uscc", "123"]
    enterprise = runner.invoke(
        cli, ["ca", "issue", *enterprise_args, "--public-key", str(tmp_path / "key.pem")], env=env
    )
    assert enterprise.exit_code == 1 and "social credit" in enterprise.output
    crl = runner.invoke(cli, ["ca", "crl", "--force"], env=env)
    assert crl.exit_code == 0 and "crl:root, crl:issuing" in crl.output


EXT_CNF = """
[sub]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
"""


def _external_root(directory: Path, name: str = "External Root") -> None:
    openssl(
        directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ext.key", "-out", "ext.pem", "-subj", f"/C=CN/O=External Trust/CN={name}",
        "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    (directory / "ext.cnf").write_text(EXT_CNF)


def _sign(directory: Path, csr: str, out: str, section: str = "sub") -> None:
    openssl(
        directory, "x509", "-req", "-in", csr, "-CA", "ext.pem", "-CAkey", "ext.key", "-CAcreateserial",
        "-out", out, "-days", "1000", "-extfile", "ext.cnf", "-extensions", section,
    )  # fmt: skip


def test_issuing_ca_under_an_external_ca(runtime: Runtime, tmp_path: Path) -> None:
    runner, env = CliRunner(), _env(runtime)
    assert runner.invoke(cli, ["ca", "init"], env=env).exit_code == 0
    no_pending = runner.invoke(cli, ["ca", "import", __file__, "--chain", __file__], env=env)
    assert no_pending.exit_code == 1

    _external_root(tmp_path)
    csr = runner.invoke(cli, ["ca", "csr", "--out", str(tmp_path / "issuing.csr")], env=env)
    assert csr.exit_code == 0, csr.output
    again = runner.invoke(cli, ["ca", "csr"], env=env)  # same pending key, same public key
    first_key = cx509.load_pem_x509_csr((tmp_path / "issuing.csr").read_bytes()).public_key()
    assert cx509.load_pem_x509_csr(again.stdout_bytes).public_key() == first_key
    openssl(tmp_path, "req", "-in", "issuing.csr", "-verify", "-noout")

    # Refused: a certificate for some other key; a non-CA certificate; a chain that did not sign it.
    openssl(tmp_path, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "other.key", "-out", "other.csr", "-subj", "/CN=other")  # fmt: skip
    _sign(tmp_path, "other.csr", "other.crt")
    _sign(tmp_path, "issuing.csr", "leaf.crt", section="leaf")
    for bad, message in (("other.crt", "pending issuing CA key"), ("leaf.crt", "not a CA certificate")):
        with pytest.raises(ImportRejected, match=message):
            runtime.pki.import_issuing((tmp_path / bad).read_bytes(), (tmp_path / "ext.pem").read_bytes())
    _sign(tmp_path, "issuing.csr", "issuing.crt")
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    _external_root(stranger, "Stranger Root")
    with pytest.raises(ImportRejected, match="not in order"):
        runtime.pki.import_issuing(
            (tmp_path / "issuing.crt").read_bytes(), (stranger / "ext.pem").read_bytes()
        )

    imported = runner.invoke(
        cli, ["ca", "import", str(tmp_path / "issuing.crt"), "--chain", str(tmp_path / "ext.pem")], env=env
    )
    assert imported.exit_code == 0, imported.output
    chain = runner.invoke(cli, ["ca", "export-chain"], env=env).stdout_bytes
    certs = cx509.load_pem_x509_certificates(chain)
    assert certs[-1].subject.rfc4514_string() == "CN=External Root,O=External Trust,C=CN"
    (tmp_path / "chain.pem").write_bytes(chain)

    # Everything now chains to the external root: a new end-entity, the re-issued TSA certificate.
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    issue = [
        "ca",
        "issue",
        "--name",
        "A",
        "--pseudonym",
        PSEUDONYM,
        "--public-key",
        str(tmp_path / "key.pem"),
    ]
    ee = runner.invoke(cli, [*issue, "--out", str(tmp_path / "ee.pem")], env=env)
    assert ee.exit_code == 0, ee.output
    _, tsa_chain = runtime.pki.tsa_identity()
    (tmp_path / "tsa.pem").write_bytes(tsa_chain[0].dump())
    openssl(tmp_path, "x509", "-inform", "DER", "-in", "tsa.pem", "-out", "tsa.pem")
    verified = openssl(
        tmp_path, "verify", "-CAfile", "ext.pem", "-untrusted", "chain.pem", "ee.pem", "tsa.pem"
    )
    assert verified.count(": OK") == 2

    # Once end-entity certificates exist under it, the issuing CA is not replaced again.
    refused = runner.invoke(cli, ["ca", "csr"], env=env)
    assert refused.exit_code == 1 and "[pki_invalid_state]" in refused.output
    with pytest.raises(InvalidState, match="end-entity"):
        runtime.pki.import_issuing(
            (tmp_path / "issuing.crt").read_bytes(), (tmp_path / "ext.pem").read_bytes()
        )


def test_init_step_uses_the_public_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, public_url="https://ca.example.org")
    from sealpact.db import upgrade
    from sealpact.storage.keys.keyring import KeyringKeyProvider

    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    runtime = Runtime(settings)
    try:
        upgrade(runtime.engine)
        init_pki(runtime, None, None)
        _, chain = runtime.pki.tsa_identity()
        assert chain[0].ocsp_urls == ["https://ca.example.org/pki/ocsp"]
    finally:
        runtime.close()
