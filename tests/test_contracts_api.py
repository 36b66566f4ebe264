"""The contracts REST API end to end, on SQLite and PostgreSQL: drafts, sending, links, codes, routing,
decline, cancel, remind, contact correction, idempotency, pagination, authorisation and bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.test_accounts_support import START, setup_accounts, user_client
from tests.test_contracts_support import (
    SIGN_RECT,
    draft,
    last_code,
    last_link,
    open_as_signer,
    party,
    sender,
    sms_to,
)
from tests.test_signing_support import make_pdf

A = "13800000001"
B = "13800000002"
C = "13800000003"


def _status(client: TestClient, contract_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/contracts/{contract_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _confirm_and_approve(runtime: Runtime, signer: TestClient, mobile: str) -> None:
    response = signer.post("/api/v1/signing/intent/code")
    assert response.status_code == 200, response.text
    assert response.json()["sent_to"] == mobile[:3] + "****" + mobile[-4:]
    response = signer.post("/api/v1/signing/intent/confirm", json={"code": last_code(runtime, mobile)})
    assert response.status_code == 204, response.text
    response = signer.post("/api/v1/signing/approve")
    assert response.status_code == 204, response.text


def test_sequential_approvals_complete_and_every_event_is_recorded(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    contract = draft(
        client, [party("甲", A, role="approver", order=1), party("乙", B, role="approver", order=2)]
    )
    cid = contract["id"]
    assert contract["status"] == "draft" and contract["routing"] == "sequential"
    assert contract["documents"][0]["page_count"] == 2
    assert contract["parties"][0]["contact"] == {"mobile": "138****0001"}  # masked for the sender

    response = client.post(f"/api/v1/contracts/{cid}/send", headers={"Idempotency-Key": "send-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "sent"
    assert [p["status"] for p in body["parties"]] == ["active", "waiting"]
    assert sms_to(runtime, B) == []  # not their turn yet

    signer_a, grant = open_as_signer(runtime, A)
    assert grant["authenticated"] is False and grant["code_sent_to"] == "138****0001"
    view = signer_a.get("/api/v1/signing/contract").json()
    assert view["may_act"] is True and view["title"] == "采购合同"
    _confirm_and_approve(runtime, signer_a, A)

    state = _status(client, cid)
    assert state["status"] == "in_progress"
    assert [p["status"] for p in state["parties"]] == ["approved", "active"]
    signer_b, _ = open_as_signer(runtime, B)
    _confirm_and_approve(runtime, signer_b, B)

    state = _status(client, cid)
    assert state["status"] == "completed" and state["finished_at"] is not None
    kinds = [e["kind"] for e in client.get(f"/api/v1/contracts/{cid}/events").json()]
    for kind in (
        "sent",
        "party_activated",
        "party_viewed",
        "party_intent_confirmed",
        "party_approved",
        "completed",
    ):
        assert kind in kinds
    assert any("已由各方签署完成" in text for text in sms_to(runtime, A))
    # The same events are in the evidence log, each record decrypting to what was recorded.
    records = runtime.evidence.records_for(cid)
    types = [r[2] for r in records]
    for kind in (
        "contract.document_uploaded",
        "contract.sent",
        "contract.party_intent_confirmed",
        "contract.party_approved",
        "contract.completed",
    ):
        assert kind in types
    opened = runtime.evidence.open_record(records[types.index("contract.party_intent_confirmed")][0])
    assert A not in json.dumps(opened.body, ensure_ascii=False)  # masked contact only


def test_parallel_and_mixed_routing(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    parties = [
        party("甲", A, role="approver", order=1),
        party("乙", B, role="approver", order=1),
        party("丙", C, role="approver", order=2),
    ]
    cid = draft(client, parties)["id"]
    body = client.post(f"/api/v1/contracts/{cid}/send").json()
    assert body["routing"] == "mixed"
    assert [p["status"] for p in body["parties"]] == ["active", "active", "waiting"]
    signer_b, _ = open_as_signer(runtime, B)
    _confirm_and_approve(runtime, signer_b, B)
    assert [p["status"] for p in _status(client, cid)["parties"]] == ["active", "approved", "waiting"]
    signer_a, _ = open_as_signer(runtime, A)
    _confirm_and_approve(runtime, signer_a, A)
    assert [p["status"] for p in _status(client, cid)["parties"]] == ["approved", "approved", "active"]


def test_links_are_single_use_party_bound_and_never_shown_to_the_sender(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A), party("乙", B, order=2)])["id"]
    responses = [client.post(f"/api/v1/contracts/{cid}/send")]
    clock.advance(minutes=10)
    responses.append(client.post(f"/api/v1/contracts/{cid}/remind", json={}))
    responses.append(client.get(f"/api/v1/contracts/{cid}"))
    responses.append(client.get(f"/api/v1/contracts/{cid}/events"))
    responses.append(client.get("/api/v1/contracts"))
    token = last_link(runtime, A)
    for response in responses:
        assert response.status_code == 200, response.text
        assert token not in response.text and "spl_" not in response.text and "sps_" not in response.text

    anonymous = TestClient(client.app)
    first = anonymous.post("/api/v1/signing/open", json={"token": token})
    assert first.status_code == 201
    again = anonymous.post("/api/v1/signing/open", json={"token": token})
    assert again.status_code == 401 and again.json()["error"]["code"] == "signing_link_invalid"
    forged = anonymous.post("/api/v1/signing/open", json={"token": "spl_" + "x" * 43})
    assert forged.json()["error"]["code"] == "signing_link_invalid"

    # Not authenticated yet: the session cannot view or act.
    anonymous.headers["X-Signing-Session"] = first.json()["session_token"]
    assert anonymous.get("/api/v1/signing/contract").json()["error"]["code"] == "signer_not_authenticated"
    wrong = anonymous.post("/api/v1/signing/authenticate", json={"code": "000000"})
    if wrong.status_code != 204:  # (1 in a million the real code is 000000)
        assert wrong.json()["error"]["code"] == "code_invalid"


def test_remind_revokes_the_previous_link_and_is_throttled(runtime: Runtime) -> None:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A)])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    old = last_link(runtime, A)
    too_soon = client.post(f"/api/v1/contracts/{cid}/remind", json={})
    assert too_soon.status_code == 429 and too_soon.json()["error"]["code"] == "remind_too_soon"
    assert last_link(runtime, A) == old
    clock.advance(minutes=10)
    assert client.post(f"/api/v1/contracts/{cid}/remind", json={}).json() == {"reminded": 1}
    new = last_link(runtime, A)
    assert new != old
    anonymous = TestClient(client.app)
    assert anonymous.post("/api/v1/signing/open", json={"token": old}).status_code == 401
    assert anonymous.post("/api/v1/signing/open", json={"token": new}).status_code == 201


def test_out_of_turn_signer_is_refused(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A, role="approver"), party("乙", B, role="approver", order=2)])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    signer_a, _ = open_as_signer(runtime, A)
    # B has no link yet; give B one through a contact correction? No: B is waiting, so none is issued.
    assert (
        client.patch(
            f"/api/v1/contracts/{cid}/parties/{_status(client, cid)['parties'][1]['id']}/contact",
            json={"mobile": C},
        ).status_code
        == 200
    )
    assert sms_to(runtime, C) == []
    view = signer_a.get("/api/v1/signing/contract").json()
    assert view["may_act"] is True


def test_decline_closes_the_contract_for_everyone(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A), party("乙", B)])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    signer_a, _ = open_as_signer(runtime, A)
    assert signer_a.post("/api/v1/signing/decline", json={"reason": "  价格 不对 "}).status_code == 204
    state = _status(client, cid)
    assert state["status"] == "declined"
    assert state["parties"][0]["decline_reason"] == "价格 不对"
    # B's link is dead now.
    anonymous = TestClient(client.app)
    assert anonymous.post("/api/v1/signing/open", json={"token": last_link(runtime, B)}).status_code == 401
    assert any("被拒签" in text for text in sms_to(runtime, B))
    again = signer_a.post("/api/v1/signing/decline", json={"reason": "x"})
    assert again.status_code == 401  # the session was revoked with the contract


def test_cancel_correct_and_edit_after_send(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    contract = draft(client, [party("甲", A)])
    cid = contract["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    # Edits after sending are refused and change nothing.
    fields = {"fields": [{"document": 0, "party": 0, "kind": "signature", "page": 1, "rect": SIGN_RECT}]}
    response = client.put(f"/api/v1/contracts/{cid}/fields", json=fields)
    assert response.status_code == 409 and response.json()["error"]["code"] == "contract_not_editable"
    upload = client.post(
        f"/api/v1/contract-documents/{cid}",
        params={"filename": "x.pdf"},
        content=make_pdf(1),
        headers={"content-type": "application/pdf"},
    )
    assert upload.status_code == 409
    assert _status(client, cid)["fields"] == contract["fields"]

    party_id = contract["parties"][0]["id"]
    old = last_link(runtime, A)
    response = client.patch(f"/api/v1/contracts/{cid}/parties/{party_id}/contact", json={"mobile": C})
    assert response.status_code == 200
    assert response.json()["parties"][0]["contact"] == {"mobile": "138****0003"}
    assert TestClient(client.app).post("/api/v1/signing/open", json={"token": old}).status_code == 401
    assert last_link(runtime, C)

    assert (
        client.post(f"/api/v1/contracts/{cid}/cancel", json={"reason": "作废"}).json()["status"]
        == "cancelled"
    )
    again = client.post(f"/api/v1/contracts/{cid}/cancel", json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"
    assert client.post(f"/api/v1/contracts/{cid}/remind", json={}).status_code == 409


def test_idempotent_create_and_send(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    body = {"title": "租赁合同", "parties": [party("甲", A)]}
    first = client.post("/api/v1/contracts", json=body, headers={"Idempotency-Key": "k1"})
    second = client.post("/api/v1/contracts", json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other = client.post(
        "/api/v1/contracts", json={**body, "title": "别的"}, headers={"Idempotency-Key": "k1"}
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(client.get("/api/v1/contracts").json()["items"]) == 1

    cid = draft(client, [party("甲", A)])["id"]
    sent = [client.post(f"/api/v1/contracts/{cid}/send", headers={"Idempotency-Key": "s"}) for _ in range(2)]
    assert [r.status_code for r in sent] == [200, 200]
    assert len([t for t in sms_to(runtime, A) if "/sign#" in t]) == 1  # one invitation only
    plain = client.post(f"/api/v1/contracts/{cid}/send")
    assert plain.status_code == 409


def test_cursor_pagination_is_stable(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    ids = [client.post("/api/v1/contracts", json={"title": f"c{i}"}).json()["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/contracts", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    bad = client.get("/api/v1/contracts", params={"cursor": "garbage"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


def test_another_users_contract_is_not_found(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A)])["id"]
    other, _, _ = user_client(runtime, "other@example.cn")
    for method, path, body in [
        ("get", f"/api/v1/contracts/{cid}", None),
        ("post", f"/api/v1/contracts/{cid}/send", None),
        ("post", f"/api/v1/contracts/{cid}/cancel", {}),
        ("put", f"/api/v1/contracts/{cid}/parties", {"parties": []}),
        ("get", f"/api/v1/contracts/{cid}/events", None),
    ]:
        response = getattr(other, method)(path, **({"json": body} if body is not None else {}))
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "contract_not_found"
    assert _status(client, cid)["status"] == "draft"


@pytest.mark.parametrize(
    ("rect", "page", "code"),
    [
        ({"x1": 500, "y1": 100, "x2": 700, "y2": 160}, 1, "invalid_field"),  # off the right edge (595 pt)
        ({"x1": 72, "y1": 100, "x2": 232, "y2": 160}, 3, "invalid_field"),  # no page 3
        ({"x1": 72, "y1": 100, "x2": 74, "y2": 160}, 1, "invalid_field"),  # too thin
    ],
)
def test_bad_fields_are_refused_and_nothing_changes(
    runtime: Runtime, rect: dict[str, float], page: int, code: str
) -> None:
    client, _ = sender(runtime)
    contract = draft(client, [party("甲", A), party("乙", B)])
    cid = contract["id"]
    fields = [{"document": 0, "party": 0, "kind": "signature", "page": page, "rect": rect}]
    response = client.put(f"/api/v1/contracts/{cid}/fields", json={"fields": fields})
    assert response.status_code == 422 and response.json()["error"]["code"] == code
    assert _status(client, cid)["fields"] == contract["fields"]


def test_overlapping_another_partys_field_is_refused(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A), party("乙", B)])["id"]
    fields = [
        {"document": 0, "party": 0, "kind": "signature", "page": 1, "rect": SIGN_RECT},
        {
            "document": 0,
            "party": 1,
            "kind": "signature",
            "page": 1,
            "rect": {"x1": 200, "y1": 120, "x2": 300, "y2": 200},
        },
    ]
    response = client.put(f"/api/v1/contracts/{cid}/fields", json={"fields": fields})
    assert response.status_code == 422 and "overlaps" in response.json()["error"]["message"]
    # The same party's own fields may overlap (a date beside a signature).
    fields[1]["party"] = 0
    fields.append({"document": 0, "party": 1, "kind": "signature", "page": 2, "rect": SIGN_RECT})
    assert client.put(f"/api/v1/contracts/{cid}/fields", json={"fields": fields}).status_code == 200


def test_seal_fields_belong_to_enterprise_parties_and_signers_need_a_field(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A), party("乙", B)])["id"]
    fields = [{"document": 0, "party": 0, "kind": "seal", "page": 1, "rect": SIGN_RECT}]
    response = client.put(f"/api/v1/contracts/{cid}/fields", json={"fields": fields})
    assert response.status_code == 422 and "enterprise" in response.json()["error"]["message"]
    fields[0]["kind"] = "signature"
    assert client.put(f"/api/v1/contracts/{cid}/fields", json={"fields": fields}).status_code == 200
    response = client.post(f"/api/v1/contracts/{cid}/send")  # party 1 has no signature field
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_field"
    assert _status(client, cid)["status"] == "draft"


def test_uploads_too_large_unsupported_or_needing_libreoffice(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = sender(runtime)
    cid = client.post("/api/v1/contracts", json={"title": "t"}).json()["id"]
    url = f"/api/v1/contract-documents/{cid}"
    png = client.post(
        url,
        params={"filename": "a.png"},
        content=b"\x89PNG\r\n\x1a\n" + b"0" * 100,
        headers={"content-type": "image/png"},
    )
    assert png.status_code == 415 and png.json()["error"]["code"] == "unsupported_document"
    liar = client.post(
        url,
        params={"filename": "a.pdf"},
        content=b"PK\x03\x04" + b"0" * 100,
        headers={"content-type": "application/pdf"},
    )
    assert liar.status_code == 415
    broken = client.post(
        url,
        params={"filename": "a.pdf"},
        content=b"%PDF-1.7\n garbage",
        headers={"content-type": "application/pdf"},
    )
    assert broken.status_code == 415
    docx = client.post(
        url,
        params={"filename": "a.docx"},
        content=b"PK\x03\x04" + b"0" * 100,
        headers={"content-type": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    )
    runtime.contracts.converter = runtime.contracts.converter  # the real LibreOffice converter
    import shutil

    if shutil.which("soffice") is None:
        assert docx.status_code == 503 and docx.json()["error"]["code"] == "converter_unavailable"
        assert "libreoffice-writer-nogui" in docx.json()["error"]["message"]
    # Size: over the per-file limit by Content-Length (refused before reading) and while streaming.
    small = runtime.settings.model_copy(update={"contract_max_file_bytes": 4096})
    monkeypatch.setattr(runtime, "settings", small)
    big = make_pdf(1, payload_bytes=20_000)
    response = client.post(
        url, params={"filename": "big.pdf"}, content=big, headers={"content-type": "application/pdf"}
    )
    assert response.status_code == 413 and response.json()["error"]["code"] == "document_too_large"

    def chunks() -> Any:
        yield big[:3000]
        yield big[3000:]

    response = client.post(
        url, params={"filename": "big.pdf"}, content=chunks(), headers={"content-type": "application/pdf"}
    )
    assert response.status_code == 413
    assert client.get(f"/api/v1/contracts/{cid}").json()["documents"] == []


def test_too_many_pages(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = sender(runtime)
    cid = client.post("/api/v1/contracts", json={"title": "t"}).json()["id"]
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"contract_max_pages": 2}))
    response = client.post(
        f"/api/v1/contract-documents/{cid}",
        params={"filename": "a.pdf"},
        content=make_pdf(3),
        headers={"content-type": "application/pdf"},
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_pages"


def test_download_document_and_openapi(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    contract = draft(client, [party("甲", A)])
    doc = contract["documents"][0]
    response = client.get(f"/api/v1/contracts/{contract['id']}/documents/{doc['id']}/content")
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    import hashlib

    assert hashlib.sha256(response.content).hexdigest() == doc["sha256"]
    schema = client.get("/openapi.json").json()
    for path in (
        "/api/v1/contracts",
        "/api/v1/contracts/{contract_id}/send",
        "/api/v1/signing/open",
        "/api/v1/webhooks",
        "/api/v1/contract-templates",
    ):
        assert path in schema["paths"]


def test_signers_see_pages_as_watermarked_images(runtime: Runtime) -> None:
    import io

    from PIL import Image

    client, _ = sender(runtime)
    contract = draft(client, [party("张三丰", A)])
    client.post(f"/api/v1/contracts/{contract['id']}/send")
    signer, _ = open_as_signer(runtime, A)
    doc_id = contract["documents"][0]["id"]
    response = signer.get(f"/api/v1/signing/documents/{doc_id}/pages/1", params={"scale": 1})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert image.size == (595, 842)
    # The watermark greys pixels all over the page, including where the page itself is blank.
    corner = image.crop((0, 0, 595, 80)).getcolors(maxcolors=100_000) or []
    assert sum(count for count, colour in corner if colour != (255, 255, 255)) > 500
    assert signer.get(f"/api/v1/signing/documents/{doc_id}/pages/3").status_code == 404
    assert signer.get(f"/api/v1/signing/documents/{doc_id}/pages/1", params={"scale": 9}).status_code == 422
    other = TestClient(client.app)
    assert other.get(f"/api/v1/signing/documents/{doc_id}/pages/1").status_code == 422  # no session header
    other.headers["X-Signing-Session"] = "sps_forged"
    assert other.get(f"/api/v1/signing/documents/{doc_id}/pages/1").status_code == 401
