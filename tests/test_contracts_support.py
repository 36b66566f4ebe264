"""Helpers for the contracts tests (no tests here): clients, a draft ready to send, reading the outboxes.

Signers get their links and codes the way real ones do: from the messages the platform sent (the
email outbox and the SMS outbox), never from the sender's API.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from sealpact.notify.models import EmailMessage
from sealpact.notify.sms import SmsMessage
from sealpact.runtime import Runtime
from tests.test_accounts_support import setup_accounts, user_client
from tests.test_signing_support import make_pdf

LINK = re.compile(r"/sign#(spl_[A-Za-z0-9_-]+)")
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")
SIGN_RECT = {"x1": 72, "y1": 100, "x2": 232, "y2": 160}


def sender(runtime: Runtime, email: str = "sender@example.cn") -> tuple[TestClient, str]:
    setup_accounts(runtime)
    client, user_id, _ = user_client(runtime, email)
    return client, user_id


def party(name: str, mobile: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "mobile": mobile, "min_level": 0, "auth_method": "sms_code", **extra}


def draft(
    client: TestClient, parties: list[dict[str, Any]], *, pages: int = 2, **extra: Any
) -> dict[str, Any]:
    response = client.post("/api/v1/contracts", json={"title": "采购合同", "parties": parties, **extra})
    assert response.status_code == 201, response.text
    contract: dict[str, Any] = response.json()
    upload = client.post(
        f"/api/v1/contract-documents/{contract['id']}",
        params={"filename": "contract.pdf"},
        content=make_pdf(pages),
        headers={"content-type": "application/pdf"},
    )
    assert upload.status_code == 201, upload.text
    fields = [
        {"document": 0, "party": i, "kind": "signature", "page": pages, "rect": _shifted(i)}
        for i, p in enumerate(parties)
        if p.get("role", "signer") == "signer"
    ]
    response = client.put(f"/api/v1/contracts/{contract['id']}/fields", json={"fields": fields})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _shifted(index: int) -> dict[str, float]:
    return {
        **SIGN_RECT,
        "x1": 72 + 170 * (index % 3),
        "x2": 232 + 170 * (index % 3),
        "y1": 100 + 80 * (index // 3),
        "y2": 160 + 80 * (index // 3),
    }


def sms_to(runtime: Runtime, mobile: str) -> list[str]:
    """Texts sent to ``mobile``, oldest first."""
    with runtime.sessions() as session:
        rows = session.scalars(
            select(SmsMessage)
            .where(SmsMessage.recipient == mobile)
            .order_by(SmsMessage.created_at, SmsMessage.id)
        )
        return [row.text for row in rows]


def emails_to(runtime: Runtime, address: str) -> list[str]:
    with runtime.sessions() as session:
        rows = session.scalars(select(EmailMessage).order_by(EmailMessage.created_at, EmailMessage.id))
        return [row.text_body for row in rows if any(address in r for r in row.recipients)]


def last_link(runtime: Runtime, mobile: str) -> str:
    for text in reversed(sms_to(runtime, mobile)):
        match = LINK.search(text)
        if match:
            return match.group(1)
    raise AssertionError("no link sent")


def last_code(runtime: Runtime, mobile: str) -> str:
    for text in reversed(sms_to(runtime, mobile)):
        if "/sign#" in text:
            continue
        match = CODE.search(text)
        if match:
            return match.group(1)
    raise AssertionError("no code sent")


def open_as_signer(runtime: Runtime, mobile: str) -> tuple[TestClient, dict[str, Any]]:
    """A fresh, anonymous client that opens the party's latest link and authenticates with the SMS code."""
    from sealpact.web.app import create_app

    client = TestClient(create_app(runtime))
    response = client.post("/api/v1/signing/open", json={"token": last_link(runtime, mobile)})
    assert response.status_code == 201, response.text
    grant: dict[str, Any] = response.json()
    client.headers["X-Signing-Session"] = grant["session_token"]
    response = client.post("/api/v1/signing/authenticate", json={"code": last_code(runtime, mobile)})
    assert response.status_code == 204, response.text
    return client, grant
