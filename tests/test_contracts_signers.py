"""Signer authentication and gates: account login, the real-name level, code attempts; templates."""

from __future__ import annotations

from fastapi.testclient import TestClient

from sealpact.db import new_id, transaction
from sealpact.identity.models import IdentityProfile
from sealpact.identity.records import P_MOBILE
from sealpact.runtime import Runtime
from tests.test_accounts_support import user_client
from tests.test_contracts_support import (
    SIGN_RECT,
    draft,
    emails_to,
    last_code,
    last_link,
    open_as_signer,
    party,
    sender,
    sms_to,
)
from tests.test_signing_support import make_pdf

A = "13800000001"


def _verify(runtime: Runtime, user_id: str, level: int, mobile: str | None = None) -> None:
    """Test setup: mark an account as verified (the identity flow itself is tested by identity's tests)."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        session.add(
            IdentityProfile(
                id=new_id(),
                subject_type="individual",
                subject_id=user_id,
                state="verified",
                level=level,
                method="mobile3",
                provider="sandbox",
                sandbox=True,
                verified_at=now,
                updated_at=now,
                mobile_enc=runtime.fields.encrypt(mobile, purpose=P_MOBILE, session=session)
                if mobile
                else None,
            )
        )


def test_account_login_parties_must_be_that_account(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    signer_client, _, _ = user_client(runtime, "li@example.cn")
    cid = draft(client, [party("李四", A, email="li@example.cn", auth_method="account", min_level=0)])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    token = last_link(runtime, A)
    anonymous = TestClient(client.app)
    refused = anonymous.post("/api/v1/signing/open", json={"token": token})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "wrong_signer"
    stranger, _, _ = user_client(runtime, "wang@example.cn")
    assert (
        stranger.post("/api/v1/signing/open", json={"token": token}).json()["error"]["code"] == "wrong_signer"
    )
    assert (
        client.post("/api/v1/signing/open", json={"token": token}).status_code == 403
    )  # not even the sender
    # The refusals did not use the link up.
    grant = signer_client.post("/api/v1/signing/open", json={"token": token})
    assert grant.status_code == 201 and grant.json()["authenticated"] is True


def test_verification_level_gate_before_the_intent_code(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    _, user_id, _ = user_client(runtime, "li@example.cn")
    parties = [
        party("李四", A, email="li@example.cn", auth_method="email_code", min_level=2, role="approver")
    ]
    cid = draft(client, parties)["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    signer = TestClient(client.app)
    grant = signer.post("/api/v1/signing/open", json={"token": last_link(runtime, A)}).json()
    assert grant["code_sent_to"] == "l***@example.cn"
    signer.headers["X-Signing-Session"] = grant["session_token"]
    code = emails_to(runtime, "li@example.cn")[-1].split("验证码为")[1][:6]
    assert signer.post("/api/v1/signing/authenticate", json={"code": code}).status_code == 204
    before = len(sms_to(runtime, A))
    refused = signer.post("/api/v1/signing/intent/code")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "verification_level_too_low"
    assert len(sms_to(runtime, A)) == before  # nothing sent
    _verify(runtime, user_id, 1)
    assert signer.post("/api/v1/signing/intent/code").status_code == 403  # level 1 < 2
    assert signer.post("/api/v1/signing/approve").json()["error"]["code"] == "verification_level_too_low"
    with transaction(runtime.sessions) as session:
        session.query(IdentityProfile).delete()
    _verify(runtime, user_id, 2, mobile="13900000009")
    response = signer.post("/api/v1/signing/intent/code")
    assert response.status_code == 200 and response.json()["sent_to"] == "139****0009"  # the verified mobile
    early = signer.post("/api/v1/signing/approve")
    assert early.status_code == 409 and early.json()["error"]["code"] == "intent_not_confirmed"
    code = last_code(runtime, "13900000009")
    assert signer.post("/api/v1/signing/intent/confirm", json={"code": code}).status_code == 204
    assert signer.post("/api/v1/signing/intent/confirm", json={"code": code}).status_code == 422  # used
    assert signer.post("/api/v1/signing/approve").status_code == 204
    state = client.get(f"/api/v1/contracts/{cid}").json()
    assert state["status"] == "completed"


def test_wrong_codes_are_limited(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A)])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    signer = TestClient(client.app)
    grant = signer.post("/api/v1/signing/open", json={"token": last_link(runtime, A)}).json()
    signer.headers["X-Signing-Session"] = grant["session_token"]
    right = last_code(runtime, A)
    wrong = "111111" if right != "111111" else "222222"
    for _ in range(5):
        assert signer.post("/api/v1/signing/authenticate", json={"code": wrong}).status_code == 422
    locked = signer.post("/api/v1/signing/authenticate", json={"code": right})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "code_attempts_exceeded"


def test_signer_out_of_turn_cannot_act(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A, role="approver"), party("乙", "13800000002", role="approver")])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    signer_a, _ = open_as_signer(runtime, A)
    signer_a.post("/api/v1/signing/intent/code")
    signer_a.post("/api/v1/signing/intent/confirm", json={"code": last_code(runtime, A)})
    assert signer_a.post("/api/v1/signing/approve").status_code == 204
    again = signer_a.post("/api/v1/signing/approve")  # done already: not their turn any more
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_your_turn"


def test_templates_make_contracts_by_filling_roles(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    file_id = client.post(
        "/api/v1/files",
        params={"filename": "模板.pdf"},
        content=make_pdf(2),
        headers={"content-type": "application/pdf"},
    ).json()["id"]
    template = {
        "name": "劳动合同",
        "file_id": file_id,
        "roles": [{"name": "employer", "order": 1}, {"name": "employee", "order": 2}],
        "fields": [
            {"role": "employer", "kind": "signature", "page": 2, "rect": SIGN_RECT},
            {
                "role": "employee",
                "kind": "signature",
                "page": 2,
                "rect": {"x1": 300, "y1": 100, "x2": 460, "y2": 160},
            },
            {
                "role": "employee",
                "kind": "date_signed",
                "page": 2,
                "rect": {"x1": 300, "y1": 60, "x2": 460, "y2": 90},
            },
        ],
    }
    created = client.post("/api/v1/contract-templates", json=template)
    assert created.status_code == 201, created.text
    tid = created.json()["id"]
    bad = client.post(
        "/api/v1/contract-templates",
        json={**template, "fields": [{"role": "nobody", "kind": "signature", "page": 1, "rect": SIGN_RECT}]},
    )
    assert bad.status_code == 422
    fill = {
        "title": "劳动合同 - 王五",
        "roles": {"employer": party("甲公司HR", A), "employee": party("王五", "13800000005")},
    }
    response = client.post(
        f"/api/v1/contract-templates/{tid}/contracts", json=fill, headers={"Idempotency-Key": "t1"}
    )
    assert response.status_code == 201, response.text
    contract = response.json()
    assert [p["role_name"] for p in contract["parties"]] == ["employer", "employee"]
    assert [p["order"] for p in contract["parties"]] == [1, 2]
    assert len(contract["fields"]) == 3 and len(contract["documents"]) == 1
    repeat = client.post(
        f"/api/v1/contract-templates/{tid}/contracts", json=fill, headers={"Idempotency-Key": "t1"}
    )
    assert repeat.json()["id"] == contract["id"] and len(repeat.json()["documents"]) == 1
    assert client.post(f"/api/v1/contracts/{contract['id']}/send").status_code == 200
    missing = client.post(
        f"/api/v1/contract-templates/{tid}/contracts",
        json={**fill, "roles": {"employer": fill["roles"]["employer"]}},
    )
    assert missing.status_code == 422
    other, _, _ = user_client(runtime, "other@example.cn")
    assert other.get(f"/api/v1/contract-templates/{tid}").status_code == 404
    assert other.post(f"/api/v1/contract-templates/{tid}/contracts", json=fill).status_code == 404


def test_only_members_act_for_an_enterprise_party(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    owner, _, _ = user_client(runtime, "boss@example.cn")
    org = owner.post("/api/v1/orgs", json={"name": "甲方有限公司"}).json()
    user_client(runtime, "clerk@example.cn")
    enterprise = party(
        "王经理",
        A,
        email="clerk@example.cn",
        auth_method="email_code",
        role="approver",
        kind="enterprise",
        organization_id=org["id"],
        organization_name="甲方有限公司",
    )
    cid = draft(client, [enterprise])["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    signer = TestClient(client.app)
    grant = signer.post("/api/v1/signing/open", json={"token": last_link(runtime, A)}).json()
    signer.headers["X-Signing-Session"] = grant["session_token"]
    code = emails_to(runtime, "clerk@example.cn")[-1].split("验证码为")[1][:6]
    assert signer.post("/api/v1/signing/authenticate", json={"code": code}).status_code == 204
    refused = signer.post("/api/v1/signing/intent/code")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "wrong_signer"
    added = owner.post(
        f"/api/v1/orgs/{org['id']}/members", json={"identifier": "clerk@example.cn", "role": "member"}
    )
    assert added.status_code == 201, added.text
    assert signer.post("/api/v1/signing/intent/code").status_code == 200


def test_text_and_checkbox_values_are_required_before_acting(runtime: Runtime) -> None:
    client, _ = sender(runtime)
    cid = draft(client, [party("甲", A, role="approver")])["id"]
    fields = [
        {"document": 0, "party": 0, "kind": "text", "page": 1, "rect": SIGN_RECT, "label": "金额"},
        {
            "document": 0,
            "party": 0,
            "kind": "checkbox",
            "page": 1,
            "rect": {"x1": 300, "y1": 100, "x2": 320, "y2": 120},
            "label": "同意条款",
        },
        {"document": 0, "party": 0, "kind": "text", "page": 2, "rect": SIGN_RECT, "required": False},
    ]
    ids = [
        f["id"]
        for f in client.put(f"/api/v1/contracts/{cid}/fields", json={"fields": fields}).json()["fields"]
    ]
    client.post(f"/api/v1/contracts/{cid}/send")
    signer, _ = open_as_signer(runtime, A)
    signer.post("/api/v1/signing/intent/code")
    signer.post("/api/v1/signing/intent/confirm", json={"code": last_code(runtime, A)})
    for values, message in [
        ({}, "金额 is required"),
        ({ids[0]: "10000"}, "must be ticked"),
        ({ids[0]: "10000", ids[1]: "yes"}, "true or false"),
        ({ids[0]: "10000", ids[1]: "true", "nope": "x"}, "not this party"),
    ]:
        response = signer.post("/api/v1/signing/approve", json={"fields": values})
        assert response.status_code == 422 and message in response.json()["error"]["message"], response.text
    assert client.get(f"/api/v1/contracts/{cid}").json()["parties"][0]["status"] == "active"
    ok = signer.post("/api/v1/signing/approve", json={"fields": {ids[0]: " 10 000 ", ids[1]: "true"}})
    assert ok.status_code == 204, ok.text
    state = client.get(f"/api/v1/contracts/{cid}").json()
    assert [f["value"] for f in state["fields"]] == ["10 000", "true", ""]
    assert state["status"] == "completed"


def test_intent_confirmed_with_the_partys_totp(runtime: Runtime) -> None:
    from sealpact.clock import FrozenClock
    from tests.test_accounts_support import START, setup_accounts, totp_code

    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    client, _ = sender(runtime)
    account, _, _ = user_client(runtime, "li@example.cn")
    secret = account.post("/api/v1/auth/totp/enroll").json()["secret"]
    assert (
        account.post("/api/v1/auth/totp/confirm", json={"code": totp_code(secret, clock.now())}).status_code
        == 200
    )
    parties = [
        party("李四", A, email="li@example.cn", auth_method="account", intent_method="totp", role="approver")
    ]
    cid = draft(client, parties)["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    grant = account.post("/api/v1/signing/open", json={"token": last_link(runtime, A)}).json()
    signer = TestClient(client.app)
    signer.headers["X-Signing-Session"] = grant["session_token"]
    before = len(sms_to(runtime, A))
    assert signer.post("/api/v1/signing/intent/code").json() == {"sent_to": None}  # nothing sent: TOTP
    assert len(sms_to(runtime, A)) == before
    clock.advance(seconds=60)
    wrong = signer.post("/api/v1/signing/intent/confirm", json={"code": "000000"})
    assert wrong.status_code == 422
    with transaction(runtime.sessions) as session:  # 4 of the 5 allowed failures used up already
        from sealpact.contracts.models import SignerSession

        session.query(SignerSession).update({"totp_failures": 4})
    code = totp_code(secret, clock.now())
    assert signer.post("/api/v1/signing/intent/confirm", json={"code": code}).status_code == 204
    replay = signer.post("/api/v1/signing/intent/confirm", json={"code": code})
    assert replay.status_code == 422  # a TOTP step is used once
    assert signer.post("/api/v1/signing/approve").status_code == 204


def test_wrong_authenticator_codes_are_limited(runtime: Runtime) -> None:
    from tests.test_accounts_support import totp_code

    client, _ = sender(runtime)
    account, _, _ = user_client(runtime, "li@example.cn")
    secret = account.post("/api/v1/auth/totp/enroll").json()["secret"]
    account.post("/api/v1/auth/totp/confirm", json={"code": totp_code(secret, runtime.clock.now())})
    parties = [
        party("李四", A, email="li@example.cn", auth_method="account", intent_method="totp", role="approver")
    ]
    cid = draft(client, parties)["id"]
    client.post(f"/api/v1/contracts/{cid}/send")
    grant = account.post("/api/v1/signing/open", json={"token": last_link(runtime, A)}).json()
    signer = TestClient(client.app)
    signer.headers["X-Signing-Session"] = grant["session_token"]
    right = totp_code(secret, runtime.clock.now(), steps=1)
    wrong = "123456" if right != "123456" else "654321"
    for _ in range(5):
        assert signer.post("/api/v1/signing/intent/confirm", json={"code": wrong}).status_code == 422
    locked = signer.post("/api/v1/signing/intent/confirm", json={"code": right})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "code_attempts_exceeded"
