"""Individual verification end to end: platform and sandbox authority over real HTTP on loopback.

Two elements, three elements + SMS, four elements + SMS, face (redirect, signed callback, polling),
with every failure class: invalid check characters, mismatches, provider outage, wrong / expired /
reused codes, forged / replayed / late / unbound callbacks, throttling, one account per ID number;
masking in API and HTML; encryption at rest (the raw ID number is in neither the database nor logs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from sealpact.audit.models import AuditEvent
from sealpact.db import transaction
from sealpact.identity.signing import sign_headers
from tests.test_identity_support import (
    KEY_ID,
    LI,
    LI_MOBILE,
    SECRET,
    WANG,
    ZHANG,
    ZHANG_CARD,
    ZHANG_MOBILE,
    Env,
    error_of,
    identity_env,
)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    yield from identity_env(database_url, tmp_path)


def _actions(env: Env) -> list[str]:
    with transaction(env.runtime.sessions) as session:
        return [
            e.action
            for e in session.query(AuditEvent).order_by(AuditEvent.seq)
            if e.action.startswith("identity")
        ]


def _all_identity_text(env: Env) -> str:
    """Every row of the identity tables and audit events, as text."""
    chunks = []
    with env.runtime.engine.connect() as conn:
        for table in ("identity_profiles", "identity_verifications", "audit_events", "identity_nonces"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                chunks.append(" ".join(str(v) for v in row))
    return "\n".join(chunks)


def test_id2_local_checks_mismatch_success_and_masking(
    env: Env, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = env.client()
    bad = ZHANG.id_number[:17] + ("1" if ZHANG.id_number[17] != "1" else "2")
    status, code, message = error_of(
        client.post("/api/v1/identity/individual/id2", json={"name": "张三", "id_number": bad})
    )
    assert (
        (status, code) == (422, "invalid_id_number") and "check character" in message and bad not in message
    )
    assert _actions(env) == ["identity.rejected_locally"]  # no attempt row, no provider call

    mismatch = client.post(
        "/api/v1/identity/individual/id2", json={"name": "李四", "id_number": ZHANG.id_number}
    )
    assert error_of(mismatch)[:2] == (422, "identity_mismatch")
    assert ZHANG.id_number not in mismatch.text and "李四" not in mismatch.text
    state = client.get("/api/v1/identity/status").json()
    assert (state["state"], state["reason"], state["level"]) == ("rejected", "identity_mismatch", 0)

    ok = client.post(
        "/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number.lower()}
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["state"], body["level"], body["method"], body["sandbox"]) == ("verified", 1, "id2", True)
    assert body["id_number"] == "110***********002X" and body["name"] == "张*"
    assert ZHANG.id_number not in ok.text

    page = client.get("/identity")
    assert page.status_code == 200 and "SANDBOX" in page.text
    assert "110***********002X" in page.text and ZHANG.id_number not in page.text and "张三" not in page.text

    actions = _actions(env)
    assert "identity.rejected_locally" in actions and actions.count("identity.check") == 2
    assert actions[-1] == "identity.verified"
    with transaction(env.runtime.sessions) as session:
        checks = session.query(AuditEvent).filter(AuditEvent.action == "identity.check").all()
        assert all(json.loads(e.details)["provider_transaction"].startswith("sbx-id2-") for e in checks)

    # Encryption at rest: neither the database nor the logs hold the raw ID number or the name.
    dump = _all_identity_text(env)
    assert ZHANG.id_number not in dump and ZHANG.id_number.lower() not in dump and "张三" not in dump
    if database_url.startswith("sqlite"):
        env.runtime.engine.dispose()
        for path in env.data_dir.glob("sealpact.db*"):
            raw = path.read_bytes()
            assert ZHANG.id_number.encode() not in raw and "张三".encode() not in raw
    assert ZHANG.id_number not in caplog.text and "张三" not in caplog.text


def test_mobile3_with_sms_code(env: Env) -> None:
    client, _ = env.client()
    wrong_mobile = client.post(
        "/api/v1/identity/individual/mobile3",
        json={"name": "张三", "id_number": ZHANG.id_number, "mobile": LI_MOBILE},
    )
    assert error_of(wrong_mobile)[:2] == (422, "identity_mismatch")
    bad_mobile = client.post(
        "/api/v1/identity/individual/mobile3",
        json={"name": "张三", "id_number": ZHANG.id_number, "mobile": "12345"},
    )
    assert error_of(bad_mobile)[:2] == (422, "invalid_mobile")

    started = client.post(
        "/api/v1/identity/individual/mobile3",
        json={"name": "张三", "id_number": ZHANG.id_number, "mobile": "+86 138-0013-8000"},
    )
    assert started.status_code == 200, started.text
    v = started.json()
    assert (v["step"], v["attempts_left"], v["sandbox"]) == ("sms_sent", 3, True)
    assert v["masked"] == {"name": "张*", "id_number": "110***********002X", "mobile": "138****8000"}
    assert len(v["provider_transactions"]) == 2  # the carrier check and the SMS
    (code,) = env.sms_codes(ZHANG_MOBILE)
    wrong = "000000" if code != "000000" else "111111"
    status, err, message = error_of(
        client.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": wrong})
    )
    assert (status, err) == (422, "challenge_failed") and "2 attempt(s) left" in message
    done = client.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": code})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "verified"
    state = client.get("/api/v1/identity/status").json()
    assert (state["level"], state["method"], state["mobile"]) == (2, "mobile3", "138****8000")
    again = client.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": code})
    assert error_of(again)[:2] == (409, "verification_state")  # single use

    # An expired code: a new attempt, then the clock passes the 10 minutes.
    second = client.post(
        "/api/v1/identity/individual/mobile3",
        json={"name": "张三", "id_number": ZHANG.id_number, "mobile": ZHANG_MOBILE},
    ).json()
    late_code = env.sms_codes(ZHANG_MOBILE)[-1]
    env.clock.advance(minutes=11)
    late = client.post(f"/api/v1/identity/verifications/{second['id']}/sms", json={"code": late_code})
    assert error_of(late)[:2] == (410, "challenge_expired")
    assert client.get(f"/api/v1/identity/verifications/{second['id']}").json()["status"] == "expired"
    assert client.get("/api/v1/identity/status").json()["level"] == 2  # the verified identity stays


def test_bank4_wrong_codes_exhaust_attempts(env: Env) -> None:
    client, _ = env.client()
    bad_card = client.post(
        "/api/v1/identity/individual/bank4",
        json={
            "name": "张三",
            "id_number": ZHANG.id_number,
            "card_number": "6222020200112233445",
            "mobile": ZHANG_MOBILE,
        },
    )
    status, code, message = error_of(bad_card)
    assert (status, code) == (422, "invalid_bank_card") and "6222" not in message
    wrong_reserved = client.post(
        "/api/v1/identity/individual/bank4",
        json={"name": "张三", "id_number": ZHANG.id_number, "card_number": ZHANG_CARD, "mobile": LI_MOBILE},
    )
    assert error_of(wrong_reserved)[:2] == (422, "identity_mismatch")
    v = client.post(
        "/api/v1/identity/individual/bank4",
        json={
            "name": "张三",
            "id_number": ZHANG.id_number,
            "card_number": ZHANG_CARD,
            "mobile": ZHANG_MOBILE,
        },
    ).json()
    assert v["masked"]["card_number"] == "6222 **** **** 3446"
    (code,) = env.sms_codes(ZHANG_MOBILE)
    wrong = "000000" if code != "000000" else "111111"
    lefts = [
        client.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": wrong}).json()
        for _ in range(3)
    ]
    assert [body["error"]["code"] for body in lefts] == ["challenge_failed"] * 3
    assert "No attempts left" in lefts[-1]["error"]["message"]
    after = client.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": code})
    assert error_of(after)[:2] == (409, "verification_state")  # the right code is useless now
    view = client.get(f"/api/v1/identity/verifications/{v['id']}").json()
    assert (view["status"], view["failure_reason"]) == ("failed", "too_many_wrong_answers")
    assert client.get("/api/v1/identity/status").json()["state"] == "rejected"


def _start_face(
    env: Env, client: httpx.Client, person_name: str = "张三", number: str = ZHANG.id_number
) -> dict:
    started = client.post("/api/v1/identity/individual/face", json={"name": person_name, "id_number": number})
    assert started.status_code == 200, started.text
    v: dict = started.json()
    assert v["step"] == "face_redirected" and v["redirect_url"].startswith(env.sandbox_url + "/face/")
    return v


def test_face_redirect_callback_and_replays(env: Env) -> None:
    client, _ = env.client()
    v = _start_face(env, client)
    page = httpx.get(v["redirect_url"])
    assert "SANDBOX" in page.text and ZHANG.id_number not in page.text
    back = httpx.post(v["redirect_url"], data={"outcome": "self"})
    assert back.status_code == 303
    assert (
        back.headers["location"]
        == f"{env.platform_url}/identity/face/return?verification={v['id']}&certify_id="
        + (back.headers["location"].split("certify_id=")[1])
    )
    (callback,) = env.authority.state.callbacks
    assert callback["status"] == 200  # the signed callback was accepted by the platform
    view = client.get(f"/api/v1/identity/verifications/{v['id']}").json()
    assert view["status"] == "verified"
    state = client.get("/api/v1/identity/status").json()
    assert (state["level"], state["method"], state["sandbox"]) == (3, "face", True)
    returned = client.get(back.headers["location"])  # the user's browser lands on the return page
    assert returned.status_code == 200 and "verified" in returned.text and "SANDBOX" in returned.text

    # Replayed: the same signed callback again.
    replay = httpx.post(callback["url"], content=callback["body"].encode(), headers=callback["headers"])
    assert error_of(replay)[:2] == (401, "message_replayed")
    # Forged: the body changed (a "failed" turned into "passed" or the reverse).
    forged = callback["body"].replace('"passed"', '"failed"')
    fresh = sign_headers(
        key_id=KEY_ID,
        secret=b"not-the-secret",
        method="POST",
        path=callback["url"].split(env.platform_url)[1],
        body=forged.encode(),
        now=env.clock.now(),
    )
    assert error_of(httpx.post(callback["url"], content=forged.encode(), headers=fresh))[:2] == (
        401,
        "signature_invalid",
    )
    assert "identity.face.callback_rejected" in _actions(env)


def test_face_callback_bound_to_request_and_late(env: Env) -> None:
    client, _ = env.client()
    first = _start_face(env, client)
    second = _start_face(env, client)
    # A correctly signed callback for the first certification, delivered to the second's URL.
    body = json.dumps(
        {
            "sandbox": True,
            "certify_id": first["redirect_url"].rsplit("/", 1)[1],
            "reference": first["id"],
            "status": "passed",
            "similarity": 99.0,
            "liveness": 99.0,
            "transaction_id": "sbx-face-x",
        }
    ).encode()
    path = f"/api/v1/identity/face/callback/{second['id']}"
    headers = sign_headers(
        key_id=KEY_ID, secret=SECRET.encode(), method="POST", path=path, body=body, now=env.clock.now()
    )
    unbound = httpx.post(env.platform_url + path, content=body, headers=headers)
    assert error_of(unbound)[:2] == (401, "callback_unbound")
    assert client.get(f"/api/v1/identity/verifications/{second['id']}").json()["status"] == "pending"

    # Late: the user finishes after the 30-minute window; the callback is refused, the attempt expires.
    env.clock.advance(minutes=31)
    httpx.post(second["redirect_url"], data={"outcome": "self"})
    assert env.authority.state.callbacks[-1]["status"] == 401
    assert json.loads(env.authority.state.callbacks[-1]["body"])["status"] == "passed"
    view = client.get(f"/api/v1/identity/verifications/{second['id']}").json()
    assert (view["status"], view["failure_reason"]) == ("expired", "expired")
    assert client.get("/api/v1/identity/status").json()["state"] != "verified"


def test_face_failures_and_polling(env: Env) -> None:
    client, _ = env.client()
    v = _start_face(env, client, "王五", WANG.id_number)  # poor reference photo: similarity 62 < 80
    assert client.post(f"/api/v1/identity/verifications/{v['id']}/poll").json()["status"] == "pending"
    httpx.post(v["redirect_url"], data={"outcome": "self"})
    view = client.get(f"/api/v1/identity/verifications/{v['id']}").json()
    assert (view["status"], view["failure_reason"]) == ("failed", "face_not_matched")
    state = client.get("/api/v1/identity/status").json()
    assert (state["state"], state["reason"]) == ("rejected", "face_not_matched")

    # Callback lost (platform unreachable for it): the poll finishes the verification.
    other, _ = env.client()
    w = _start_face(env, other, "李四", LI.id_number)
    env.authority.state.face[w["redirect_url"].rsplit("/", 1)[1]].callback_url = "http://127.0.0.1:9/nowhere"
    httpx.post(w["redirect_url"], data={"outcome": "self"})
    polled = other.post(f"/api/v1/identity/verifications/{w['id']}/poll").json()
    assert polled["status"] == "verified"
    assert other.get("/api/v1/identity/status").json()["level"] == 3


def test_provider_outage_is_not_a_mismatch(env: Env) -> None:
    client, _ = env.client()
    env.fault("/v1/person", 503, count=2)  # one try + one retry, both fail
    status, code, message = error_of(
        client.post("/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number})
    )
    assert (status, code) == (503, "provider_unavailable") and "mismatch" not in message.lower()
    state = client.get("/api/v1/identity/status").json()
    assert (state["state"], state["reason"]) == ("unverified", "provider_unavailable")
    env.fault("/v1/person", 503, count=1)  # a single transient failure is retried away
    ok = client.post("/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number})
    assert ok.status_code == 200 and ok.json()["state"] == "verified"


def test_throttling_and_one_account_per_id_number(env: Env) -> None:
    client, _ = env.client()
    for _ in range(5):
        r = client.post(
            "/api/v1/identity/individual/id2", json={"name": "李四", "id_number": ZHANG.id_number}
        )
        assert error_of(r)[1] == "identity_mismatch"
    locked = client.post(
        "/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number}
    )
    status, code, message = error_of(locked)
    assert (status, code) == (429, "identity_locked") and "locked for" in message
    assert int(locked.headers["retry-after"]) > 0
    # The ID number itself is locked for other accounts too (5 failures against it).
    other, _ = env.client()
    assert error_of(
        other.post("/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number})
    )[1] == ("identity_locked")
    env.clock.advance(hours=25)  # the ID-number lock (24 hours) is over; sessions have expired too
    later, _ = env.client()
    ok = later.post("/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number})
    assert ok.status_code == 200, ok.text
    third, _ = env.client()
    taken = third.post("/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number})
    assert error_of(taken)[:2] == (409, "identity_in_use")


def test_other_accounts_verifications_are_not_found(env: Env) -> None:
    client, _ = env.client()
    v = client.post(
        "/api/v1/identity/individual/mobile3",
        json={"name": "张三", "id_number": ZHANG.id_number, "mobile": ZHANG_MOBILE},
    ).json()
    stranger, _ = env.client()
    assert error_of(stranger.get(f"/api/v1/identity/verifications/{v['id']}"))[:2] == (
        404,
        "verification_not_found",
    )
    (code,) = env.sms_codes(ZHANG_MOBILE)
    assert (
        stranger.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": code}).status_code == 404
    )
    assert httpx.get(f"{env.platform_url}/api/v1/identity/status").status_code == 401


def test_ip_rate_limit_across_accounts(env: Env) -> None:
    from sealpact.accounts.throttle import Limit
    from sealpact.identity.records import IdentityPolicy
    from sealpact.identity.wiring import build_identity

    # A small per-IP budget: every test client comes from 127.0.0.1.
    env.runtime.__dict__["identity"] = build_identity(
        env.runtime, policy=IdentityPolicy(ip_attempts=Limit(3, 3600, 600))
    )
    people = [(ZHANG.name, ZHANG.id_number), (LI.name, LI.id_number), (WANG.name, WANG.id_number)]
    for name, number in people:
        client, _ = env.client()
        assert (
            client.post(
                "/api/v1/identity/individual/id2", json={"name": name, "id_number": number}
            ).status_code
            == 200
        )
    client, _ = env.client()
    locked = client.post(
        "/api/v1/identity/individual/id2", json={"name": "张三", "id_number": ZHANG.id_number}
    )
    status, code, message = error_of(locked)
    assert (status, code) == (429, "identity_locked") and "10 minute(s)" in message


def test_rejected_callbacks_are_throttled_per_ip(env: Env) -> None:
    from sealpact.accounts.throttle import Limit
    from sealpact.identity.records import IdentityPolicy
    from sealpact.identity.wiring import build_identity

    env.runtime.__dict__["identity"] = build_identity(
        env.runtime, policy=IdentityPolicy(callback_failures=Limit(2, 3600, 3600))
    )
    url = f"{env.platform_url}/api/v1/identity/face/callback/whatever"
    codes = [httpx.post(url, content=b"{}").json()["error"]["code"] for _ in range(3)]
    assert codes == ["signature_invalid", "signature_invalid", "identity_locked"]
