"""The sandbox in production is refused; certificates carry the sandbox policy and are revoked on change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sealpact.cli.main import cli
from sealpact.clock import FrozenClock
from sealpact.config import Settings
from sealpact.identity.adapters import ContractProvider
from sealpact.identity.errors import SandboxRefused
from sealpact.identity.http import SignedHttpClient
from sealpact.identity.signing import MemoryNonceStore
from sealpact.identity.wiring import build_providers
from sealpact.pki.policy import end_entity_policy_oid, parse_end_entity_policy
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.test_identity_support import KEY_ID, LI, SECRET, ZHANG, Env, identity_env


def _production(tmp_path: Path, **overrides: object) -> Settings:
    return make_settings(tmp_path, env="production", identity_provider_secret=SECRET, **overrides)


def test_sandbox_refused_in_production_unless_allowed(tmp_path: Path, runtime: Runtime) -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(SandboxRefused) as info:
        build_providers(_production(tmp_path), clock, runtime.sessions)
    assert info.value.code == "sandbox_refused"
    allowed = build_providers(
        _production(tmp_path, identity_allow_sandbox_in_production=True), clock, runtime.sessions
    )
    assert allowed.person is not None and allowed.person.sandbox
    # A production runtime refuses as soon as identity is used.
    prod_runtime = Runtime(_production(tmp_path, database_url=runtime.settings.database_url))
    with pytest.raises(SandboxRefused):
        _ = prod_runtime.identity
    prod_runtime.close()


def test_production_provider_refuses_sandbox_answers(tmp_path: Path) -> None:
    env_iter = identity_env(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    env = next(env_iter)
    try:
        clock = env.clock
        client = SignedHttpClient(
            env.sandbox_url, key_id=KEY_ID, secret=SECRET.encode(), clock=clock, provider="contract"
        )
        provider = ContractProvider(
            client, clock=clock, nonces=MemoryNonceStore(), sandbox=False, allow_sandbox=False
        )
        with pytest.raises(SandboxRefused):
            provider.verify_id2(name="张三", id_number=ZHANG.id_number)
    finally:
        next(env_iter, None)


def test_cli_refuses_sandbox_authority_in_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALPACT_ENV", "production")
    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path), "sandbox-authority", "--port", "1"], obj={}
    )
    assert result.exit_code == 1 and "sandbox_refused" in result.output


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    yield from identity_env(database_url, tmp_path)


def test_certificate_marks_sandbox_and_is_revoked_when_identity_changes(env: Env) -> None:
    runtime = env.runtime
    runtime.pki.ensure_hierarchy()
    client, user_id = env.client()
    assert (
        client.post(
            "/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number}
        ).status_code
        == 200
    )

    identity = runtime.identity.certificate_identity("individual", user_id)
    assert identity.sandbox and int(identity.level) == 1 and ZHANG.id_number not in identity.unique_id
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    issued = runtime.pki.issue(identity, public_key_der=spki)
    cert = x509.load_der_x509_certificate(issued.certificate.dump())  # asn1crypto -> cryptography
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    oids = [p.policy_identifier.dotted_string for p in policies]
    assert end_entity_policy_oid(identity.level, True) in oids
    assert any(parse_end_entity_policy(oid) == (identity.level, True) for oid in oids)

    # Same person upgrades (same identity): the certificate stays good.
    assert runtime.pki.get_certificate(issued.serial).status == "good"
    # The account is re-verified as somebody else: the old identity's certificate is revoked.
    changed = client.post("/api/v1/identity/individual/id2", json={"name": "李四", "id_number": LI.id_number})
    assert changed.status_code == 200, changed.text
    assert changed.json()["id_number"].endswith(LI.id_number[-4:])
    assert runtime.pki.get_certificate(issued.serial).status == "revoked"
