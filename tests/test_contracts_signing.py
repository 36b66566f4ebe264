"""The signing step end to end with the real signing engine, PKI and TSA; parallel signers on PostgreSQL.

Signer keys come from a test :class:`KeySource` that issues each account a key and certificate from the
platform CA and checks a PIN: it stands in for ``sealpact.custody``, which is not wired yet. Everything
after the unlock (engine, revisions, locks, routing, evidence) is the production path.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from sealpact.contracts.errors import ContractError
from sealpact.contracts.models import Party
from sealpact.contracts.signer import Signing
from sealpact.runtime import Runtime
from sealpact.signing import SignerCredentials
from tests.test_accounts_support import user_client
from tests.test_contracts_support import draft, last_code, last_link, sender
from tests.test_signing_support import credentials

PIN = "246810"


class PinInvalid(ContractError):
    code = "pin_invalid"
    http_status = 422


class PinCheckedKeys:
    """Stands in for custody: one key per account, unlocked by the right PIN only."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._keys: dict[str, SignerCredentials] = {}
        self._lock = threading.Lock()
        self.unlocks = 0

    def unlock(self, *, user_id: str, pin: str, party: Party) -> SignerCredentials:
        if pin != PIN:
            raise PinInvalid("Wrong PIN.")
        with self._lock:
            self.unlocks += 1
            if user_id not in self._keys:
                self._keys[user_id] = credentials(self._runtime, party.name, len(self._keys))[0]
            return self._keys[user_id]


@pytest.fixture
def keys(runtime: Runtime) -> PinCheckedKeys:
    runtime.pki.ensure_hierarchy()
    source = PinCheckedKeys(runtime)
    runtime.__dict__["signing_flow"] = Signing(runtime, source)
    return source


def _signer_party(name: str, n: int, order: int) -> dict[str, Any]:
    return {
        "name": name,
        "email": f"s{n}@example.cn",
        "mobile": f"1380000000{n}",
        "auth_method": "email_code",
        "min_level": 0,
        "order": order,
    }


def _ready_signer(runtime: Runtime, app: Any, n: int) -> TestClient:
    """Open the link, authenticate by email code, confirm intent by SMS code: ready to enter the PIN."""
    from tests.test_contracts_support import emails_to

    client = TestClient(app)
    grant = client.post("/api/v1/signing/open", json={"token": last_link(runtime, f"1380000000{n}")})
    assert grant.status_code == 201, grant.text
    client.headers["X-Signing-Session"] = grant.json()["session_token"]
    code = emails_to(runtime, f"s{n}@example.cn")[-1].split("验证码为")[1][:6]
    assert client.post("/api/v1/signing/authenticate", json={"code": code}).status_code == 204
    assert client.post("/api/v1/signing/intent/code").status_code == 200
    confirm = client.post(
        "/api/v1/signing/intent/confirm", json={"code": last_code(runtime, f"1380000000{n}")}
    )
    assert confirm.status_code == 204, confirm.text
    return client


def _signatures(pdf: bytes) -> tuple[list[str], int]:
    reader = PdfFileReader(io.BytesIO(pdf))
    names = [s.field_name for s in reader.embedded_regular_signatures]
    return names, len(reader.embedded_timestamp_signatures)


def _download(client: TestClient, contract: dict[str, Any]) -> bytes:
    doc = contract["documents"][0]
    response = client.get(f"/api/v1/contracts/{contract['id']}/documents/{doc['id']}/content")
    assert response.status_code == 200
    return response.content


def _accounts(runtime: Runtime, count: int) -> None:
    for n in range(1, count + 1):
        user_client(runtime, f"s{n}@example.cn")


def test_sequential_signing_to_completion(runtime: Runtime, keys: PinCheckedKeys) -> None:
    client, _ = sender(runtime)
    _accounts(runtime, 2)
    contract = draft(client, [_signer_party("甲", 1, 1), _signer_party("乙", 2, 2)])
    cid = contract["id"]
    uploaded_sha = contract["documents"][0]["sha256"]
    sent = client.post(f"/api/v1/contracts/{cid}/send").json()
    assert sent["documents"][0]["original_sha256"] == uploaded_sha

    first = _ready_signer(runtime, client.app, 1)
    wrong = first.post("/api/v1/signing/sign", json={"pin": "000000"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "pin_invalid"
    state = client.get(f"/api/v1/contracts/{cid}").json()
    assert state["documents"][0]["revision"] == 0 and state["parties"][0]["status"] == "active"

    response = first.post("/api/v1/signing/sign", json={"pin": PIN})
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["level"] == "B-T" and outcome["completed"] is False
    again = first.post("/api/v1/signing/sign", json={"pin": PIN})  # double submit: same answer, no change
    assert again.json() == outcome
    state = client.get(f"/api/v1/contracts/{cid}").json()
    assert state["status"] == "in_progress" and state["documents"][0]["revision"] == 1
    assert _signatures(_download(client, state)) == (["party0"], 0)

    second = _ready_signer(runtime, client.app, 2)
    final = second.post("/api/v1/signing/sign", json={"pin": PIN}).json()
    assert final["level"] == "B-LTA" and final["completed"] is True
    state = client.get(f"/api/v1/contracts/{cid}").json()
    assert state["status"] == "completed"
    names, timestamps = _signatures(_download(client, state))
    assert names == ["party0", "party1"] and timestamps >= 1  # B-LTA: a document time-stamp at the end
    original = client.get(
        f"/api/v1/contracts/{cid}/documents/{state['documents'][0]['id']}/content",
        params={"original": "true"},
    )
    assert __import__("hashlib").sha256(original.content).hexdigest() == uploaded_sha
    kinds = [e["kind"] for e in client.get(f"/api/v1/contracts/{cid}/events").json()]
    assert kinds.count("party_signed") == 2 and "completed" in kinds

    # Every party gets a fresh link to download the signed contract and the certificate of completion.
    from tests.test_contracts_support import emails_to

    party_client = TestClient(client.app)
    grant = party_client.post(
        "/api/v1/signing/open", json={"token": last_link(runtime, "13800000001")}
    ).json()
    party_client.headers["X-Signing-Session"] = grant["session_token"]
    code = emails_to(runtime, "s1@example.cn")[-1].split("验证码为")[1][:6]
    assert party_client.post("/api/v1/signing/authenticate", json={"code": code}).status_code == 204
    doc_id = state["documents"][0]["id"]
    signed = party_client.get(f"/api/v1/signing/documents/{doc_id}/content")
    assert signed.status_code == 200 and signed.content == _download(client, state)
    certificate = party_client.get("/api/v1/signing/certificate")
    assert certificate.status_code == 200 and certificate.content.startswith(b"%PDF-")
    reader = PdfFileReader(io.BytesIO(certificate.content))
    assert len(reader.embedded_timestamp_signatures) == 1  # time-stamped by the platform's TSA
    assert client.get(f"/api/v1/contracts/{cid}/certificate").content == certificate.content  # made once
    from sqlalchemy import select

    from sealpact.contracts.certificate import certificate_lines
    from sealpact.contracts.models import Contract

    with runtime.sessions() as session:
        contract_row = session.get(Contract, cid)
        assert contract_row is not None
        text = "\n".join(line for line, _ in certificate_lines(session, contract_row))
        serials = list(session.scalars(select(Party.certificate_serial).where(Party.contract_id == cid)))
    assert uploaded_sha in text and state["documents"][0]["sha256"] in text
    assert "138****0001" in text and "13800000001" not in text  # masked contacts only
    assert all(serial and serial in text for serial in serials)
    assert "intent confirmed" in text and "signed 签署" in text and "testclient" in text


def test_a_crash_before_storing_leaves_everything_retryable(
    runtime: Runtime, keys: PinCheckedKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = sender(runtime)
    _accounts(runtime, 1)
    contract = draft(client, [_signer_party("甲", 1, 1)])
    cid = contract["id"]
    before = client.post(f"/api/v1/contracts/{cid}/send").json()["documents"][0]
    signer = _ready_signer(runtime, client.app, 1)
    real_put_in = runtime.blobs.put_in

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError("disk gone")

    monkeypatch.setattr(runtime.blobs, "put_in", crash)
    crashed = TestClient(client.app, raise_server_exceptions=False)
    crashed.headers.update(signer.headers)
    assert crashed.post("/api/v1/signing/sign", json={"pin": PIN}).status_code == 500
    state = client.get(f"/api/v1/contracts/{cid}").json()
    assert state["documents"][0] == before and state["parties"][0]["status"] == "active"
    assert state["status"] == "sent"
    monkeypatch.setattr(runtime.blobs, "put_in", real_put_in)
    assert signer.post("/api/v1/signing/sign", json={"pin": PIN}).status_code == 200
    assert client.get(f"/api/v1/contracts/{cid}").json()["status"] == "completed"


def test_signer_without_custody_key_refuses_cleanly(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    _accounts(runtime, 1)
    cid = draft(client, [_signer_party("甲", 1, 1)])["id"]
    before = client.post(f"/api/v1/contracts/{cid}/send").json()
    signer = _ready_signer(runtime, client.app, 1)
    response = signer.post("/api/v1/signing/sign", json={"pin": PIN})
    # The production key source (custody): this signer never set a signing PIN, so there is no key.
    assert response.status_code == 409 and response.json()["error"]["code"] == "custody_no_key"
    assert client.get(f"/api/v1/contracts/{cid}").json()["documents"] == before["documents"]


def test_parallel_signers_both_land_in_the_final_pdf(pg_url: str, tmp_path: Path) -> None:
    from sealpact.db import upgrade
    from sealpact.storage.keys.keyring import KeyringKeyProvider
    from tests.conftest import MASTER_SECRET, make_settings

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = make_settings(data_dir, database_url=pg_url)
    KeyringKeyProvider.create(settings.keyring_path, MASTER_SECRET.encode())
    runtime = Runtime(settings)
    upgrade(runtime.engine)
    try:
        runtime.pki.ensure_hierarchy()
        source = PinCheckedKeys(runtime)
        runtime.__dict__["signing_flow"] = Signing(runtime, source)
        client, _ = sender(runtime)
        _accounts(runtime, 3)
        for round_ in range(3):
            parties = [_signer_party(name, n, 1) for n, name in ((1, "甲"), (2, "乙"), (3, "丙"))]
            contract = draft(client, parties)
            client.post(f"/api/v1/contracts/{contract['id']}/send")
            signers = [_ready_signer(runtime, client.app, n) for n in (1, 2, 3)]
            barrier = threading.Barrier(len(signers))
            results: list[int] = []

            def go(signer: TestClient, barrier: threading.Barrier, results: list[int]) -> None:
                barrier.wait()
                results.append(signer.post("/api/v1/signing/sign", json={"pin": PIN}).status_code)

            threads = [threading.Thread(target=go, args=(s, barrier, results)) for s in signers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert results == [200, 200, 200], round_
            state = client.get(f"/api/v1/contracts/{contract['id']}").json()
            assert state["status"] == "completed" and state["documents"][0]["revision"] == 3
            names, timestamps = _signatures(_download(client, state))
            assert sorted(names) == ["party0", "party1", "party2"] and timestamps >= 1
    finally:
        runtime.close()
