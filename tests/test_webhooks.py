"""Webhooks against a real loopback HTTP receiver: HMAC over timestamp and body, retries, the delivery log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealpact.config import Settings
from sealpact.notify.webhooks import WebhookSignatureInvalid, sign, verify_signature
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.test_accounts_support import user_client
from tests.test_contracts_support import draft, open_as_signer, party, sender
from tests.test_webhooks_support import Received, receiver


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return make_settings(
        data_dir, database_url=database_url, webhook_allow_private_targets=True, jobs_max_retries=3
    )


def _endpoint(client: TestClient, url: str, events: list[str]) -> dict[str, Any]:
    response = client.post("/api/v1/webhooks", json={"url": url + "/hook", "events": events})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_contract_events_are_signed_and_delivered(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    with receiver() as hook:
        endpoint = _endpoint(client, hook.url, ["contract.sent", "party.viewed", "party.declined"])
        assert endpoint["secret"].startswith("whsec_")
        assert "secret" not in client.get("/api/v1/webhooks").json()[0]  # shown once only
        cid = draft(client, [party("甲", "13800000001")])["id"]
        client.post(f"/api/v1/contracts/{cid}/send")
        signer, _ = open_as_signer(runtime, "13800000001")
        signer.get("/api/v1/signing/contract")
        signer.post("/api/v1/signing/decline", json={"reason": "no"})
        types = [r.headers["sealpact-event"] for r in hook.requests]
        assert types == ["contract.sent", "party.viewed", "party.declined"]
        for request in hook.requests:
            header = request.headers["sealpact-signature"]
            timestamp = int(header.split(",")[0].removeprefix("t="))
            verify_signature(endpoint["secret"], header, request.body, now=timestamp)
            payload = json.loads(request.body)
            assert payload["data"]["contract_id"] == cid
            assert "13800000001" not in request.body.decode()  # no personal data in payloads
            with pytest.raises(WebhookSignatureInvalid):
                verify_signature(endpoint["secret"], header, request.body + b" ", now=timestamp)
            with pytest.raises(WebhookSignatureInvalid):
                verify_signature(endpoint["secret"], header, request.body, now=timestamp + 301)
            with pytest.raises(WebhookSignatureInvalid):
                verify_signature("whsec_other", header, request.body, now=timestamp)
        log = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json()
        assert [d["status"] for d in log] == ["delivered"] * 3


def test_failed_deliveries_are_retried_and_logged(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    with receiver() as hook:
        answers = iter([500, 503, 200])

        def respond(_request: Received) -> tuple[int, bytes]:
            return next(answers), b""

        hook.respond = respond
        endpoint = _endpoint(client, hook.url, ["contract.sent"])
        cid = draft(client, [party("甲", "13800000001")])["id"]
        client.post(f"/api/v1/contracts/{cid}/send")
        assert len(hook.requests) == 3
        # The same event (same id and body) each time, signed afresh.
        assert len({r.body for r in hook.requests}) == 1
        delivery = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json()[0]
        assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
            "delivered",
            3,
            200,
        )
        attempts = client.get(f"/api/v1/webhooks/deliveries/{delivery['id']}/attempts").json()
        assert [a["status_code"] for a in attempts] == [500, 503, 200]
        assert [a["error"] for a in attempts] == ["HTTP 500", "HTTP 503", None]


def test_a_receiver_that_never_accepts_ends_failed(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    with receiver() as hook:
        hook.respond = lambda _r: (410, b"")
        endpoint = _endpoint(client, hook.url, ["contract.sent"])
        cid = draft(client, [party("甲", "13800000001")])["id"]
        assert client.post(f"/api/v1/contracts/{cid}/send").status_code == 200  # the send itself succeeded
        assert len(hook.requests) == 4  # 1 + jobs_max_retries
        delivery = client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").json()[0]
        assert delivery["status"] == "failed" and delivery["attempts"] == 4


def test_endpoints_are_private_to_their_owner_and_urls_checked(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    endpoint = _endpoint(client, "http://127.0.0.1:9", ["contract.sent"])
    other, _, _ = user_client(runtime, "other@example.cn")
    assert other.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries").status_code == 404
    assert other.delete(f"/api/v1/webhooks/{endpoint['id']}").status_code == 404
    assert other.get("/api/v1/webhooks").json() == []
    for url in ("ftp://example.com/x", "http://user:pw@example.com/x", "not a url"):
        response = client.post("/api/v1/webhooks", json={"url": url, "events": ["contract.sent"]})
        assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_webhook"
    response = client.post("/api/v1/webhooks", json={"url": "https://example.com/x", "events": ["nope"]})
    assert response.status_code == 422
    assert client.delete(f"/api/v1/webhooks/{endpoint['id']}").status_code == 204


def test_private_targets_are_refused_by_default(
    tmp_path: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = sender(runtime)
    strict = runtime.settings.model_copy(update={"webhook_allow_private_targets": False})
    monkeypatch.setattr(runtime, "settings", strict)
    response = client.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:8080/x", "events": ["contract.sent"]}
    )
    assert response.status_code == 422 and "private" in response.json()["error"]["message"]


def test_signature_format() -> None:
    assert sign("s", 1700000000, b"{}") == (
        "t=1700000000,v1=" + __import__("hmac").new(b"s", b"1700000000.{}", "sha256").hexdigest()
    )
