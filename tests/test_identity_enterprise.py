"""Enterprise verification end to end over real HTTP: registry, micro-deposit, legal-representative SMS.

Also: the agent must be verified first, other organizations' verifications are 404, deposits are
attempt-limited, expire after 72 hours, and an amount from another attempt (or a guess) never passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_identity_support import (
    ACCOUNT,
    ENTERPRISE,
    REGISTRY,
    ZHANG,
    ZHANG_MOBILE,
    Env,
    error_of,
    identity_env,
)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    yield from identity_env(database_url, tmp_path)


def _verified_agent(env: Env, email: str | None = None, person: int = 1) -> httpx.Client:
    client, _ = env.client(email)
    who = REGISTRY.persons[person]
    r = client.post("/api/v1/identity/individual/id2", json={"name": who.name, "id_number": who.id_number})
    assert r.status_code == 200, r.text
    return client


def _org(client: httpx.Client) -> str:
    r = client.post("/api/v1/orgs", json={"name": "示例科技"})
    assert r.status_code == 201, r.text
    org_id: str = r.json()["id"]
    return org_id


def _registry(client: httpx.Client, org_id: str, **overrides: str) -> httpx.Response:
    body = {
        "name": ENTERPRISE.name,
        "credit_code": ENTERPRISE.credit_code,
        "legal_rep_name": ENTERPRISE.legal_rep_name,
    }
    body.update(overrides)
    return client.post(f"/api/v1/identity/organizations/{org_id}/enterprise", json=body)


def _amount(env: Env, remark: str) -> int:
    (transfer,) = [t for t in env.transfers(ACCOUNT.account_number) if t["remark"] == remark]
    amount: int = transfer["amount_fen"]
    return amount


def test_agent_must_be_verified_and_registry_checked(env: Env) -> None:
    client, _ = env.client()
    org_id = _org(client)
    assert error_of(_registry(client, org_id))[:2] == (403, "verification_level_too_low")

    agent = _verified_agent(env)
    org_id = _org(agent)
    bad_code = _registry(agent, org_id, credit_code="91350100M000100Y44")
    assert error_of(bad_code)[:2] == (422, "invalid_credit_code")
    wrong_rep = _registry(agent, org_id, legal_rep_name="王五")
    status, code, message = error_of(wrong_rep)
    assert (status, code) == (422, "identity_mismatch") and "legal representative" in message
    cancelled = REGISTRY.enterprises[2]
    gone = _registry(
        agent, org_id, name=cancelled.name, credit_code=cancelled.credit_code, legal_rep_name="王五"
    )
    assert error_of(gone)[:2] == (422, "identity_mismatch") and "not active" in error_of(gone)[2]
    status_body = agent.get(f"/api/v1/identity/organizations/{org_id}/status").json()
    assert status_body["state"] == "rejected"
    # Someone outside the organization sees nothing.
    stranger = _verified_agent(env, person=2)
    assert stranger.get(f"/api/v1/identity/organizations/{org_id}/status").status_code == 404
    assert _registry(stranger, org_id).status_code == 404


def test_micro_deposit(env: Env) -> None:
    agent = _verified_agent(env)
    org_id = _org(agent)
    v = _registry(agent, org_id).json()
    assert (v["step"], v["sandbox"]) == ("registry_passed", True)

    # The corporate account must be in the enterprise's name: an unknown account is refused by the bank.
    unknown = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/deposit",
        json={"account_number": "9999000011112222", "bank_name": "某银行"},
    )
    assert error_of(unknown)[:2] == (422, "identity_mismatch")

    v = _registry(agent, org_id).json()
    sent = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/deposit",
        json={"account_number": ACCOUNT.account_number, "bank_name": ACCOUNT.bank_name},
    )
    assert sent.status_code == 200, sent.text
    d = sent.json()
    assert d["step"] == "deposit_sent" and d["attempts_left"] == 3 and d["deposit_remark"].startswith("SP")
    assert d["masked"]["account_number"] == "1100 **** **** 0001"
    amount = _amount(env, d["deposit_remark"])
    assert 1 <= amount <= 99

    wrong = (amount % 99) + 1
    r = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/deposit/confirm", json={"amount": f"0.{wrong:02d}"}
    )
    status, code, message = error_of(r)
    assert (status, code) == (422, "challenge_failed") and "2 attempt(s) left" in message
    malformed = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/deposit/confirm", json={"amount": "abc"}
    )
    assert error_of(malformed)[1] == "challenge_failed"  # counted like a wrong amount
    ok = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/deposit/confirm", json={"amount": f"0.{amount:02d}"}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "verified"
    state = agent.get(f"/api/v1/identity/organizations/{org_id}/status").json()
    assert (state["state"], state["level"], state["method"], state["sandbox"]) == (
        "verified",
        2,
        "enterprise",
        True,
    )
    assert (state["enterprise_name"], state["credit_code"]) == (ENTERPRISE.name, ENTERPRISE.credit_code)
    record = ok.json()
    assert record["initiated_by"] and record["agent_verification_id"]  # the agent, verified, is recorded
    page = agent.get(f"/identity/organizations/{org_id}")
    assert page.status_code == 200 and ENTERPRISE.name in page.text and "SANDBOX" in page.text
    again = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/deposit/confirm", json={"amount": f"0.{amount:02d}"}
    )
    assert error_of(again)[0] in (409, 410)

    # A second organization cannot claim the same credit code.
    other_org = _org(agent)
    assert error_of(_registry(agent, other_org))[:2] == (409, "identity_in_use")


def test_deposit_reused_amount_attempts_and_expiry(env: Env) -> None:
    email = "agent@example.com"
    agent = _verified_agent(env, email)
    org_id = _org(agent)
    first = _registry(agent, org_id).json()
    d1 = agent.post(
        f"/api/v1/identity/verifications/{first['id']}/deposit",
        json={"account_number": ACCOUNT.account_number, "bank_name": ACCOUNT.bank_name},
    ).json()
    amount1 = _amount(env, d1["deposit_remark"])
    # Three wrong amounts: the attempt fails for good, even the right amount is refused afterwards.
    wrong = (amount1 % 99) + 1
    for _ in range(3):
        agent.post(
            f"/api/v1/identity/verifications/{first['id']}/deposit/confirm", json={"amount": f"0.{wrong:02d}"}
        )
    dead = agent.post(
        f"/api/v1/identity/verifications/{first['id']}/deposit/confirm", json={"amount": f"0.{amount1:02d}"}
    )
    assert error_of(dead)[:2] == (409, "verification_state")

    second = _registry(agent, org_id).json()
    d2 = agent.post(
        f"/api/v1/identity/verifications/{second['id']}/deposit",
        json={"account_number": ACCOUNT.account_number, "bank_name": ACCOUNT.bank_name},
    ).json()
    amount2 = _amount(env, d2["deposit_remark"])
    if amount1 != amount2:  # the earlier deposit's amount is bound to the earlier attempt
        reused = agent.post(
            f"/api/v1/identity/verifications/{second['id']}/deposit/confirm",
            json={"amount": f"0.{amount1:02d}"},
        )
        assert error_of(reused)[1] == "challenge_failed"
    env.clock.advance(hours=73)
    agent = env.login(email)
    late = agent.post(
        f"/api/v1/identity/verifications/{second['id']}/deposit/confirm", json={"amount": f"0.{amount2:02d}"}
    )
    assert error_of(late)[:2] == (410, "challenge_expired")
    assert agent.get(f"/api/v1/identity/verifications/{second['id']}").json()["status"] == "expired"


def test_legal_representative_authorisation(env: Env) -> None:
    agent = _verified_agent(env)
    org_id = _org(agent)
    v = _registry(agent, org_id).json()
    wrong = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/legal-rep",
        json={"id_number": REGISTRY.persons[1].id_number, "mobile": "13912345678"},
    )
    assert error_of(wrong)[:2] == (422, "identity_mismatch")  # 李四 is not the legal representative

    v = _registry(agent, org_id).json()
    started = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/legal-rep",
        json={"id_number": ZHANG.id_number, "mobile": ZHANG_MOBILE},
    )
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["step"] == "legal_rep_sms" and body["masked"]["mobile"] == "138****8000"
    assert ZHANG.id_number not in started.text
    (code,) = env.sms_codes(ZHANG_MOBILE)
    done = agent.post(f"/api/v1/identity/verifications/{v['id']}/sms", json={"code": code})
    assert done.status_code == 200, done.text
    state = agent.get(f"/api/v1/identity/organizations/{org_id}/status").json()
    assert (state["state"], state["level"]) == ("verified", 2)


def test_registry_and_payment_outages_are_reported_as_outages(env: Env) -> None:
    agent = _verified_agent(env)
    org_id = _org(agent)
    env.fault("/v1/enterprise", 503, count=2)
    status, code, message = error_of(_registry(agent, org_id))
    assert (status, code) == (503, "provider_unavailable") and "mismatch" not in message
    state = agent.get(f"/api/v1/identity/organizations/{org_id}/status").json()
    assert (state["state"], state["reason"]) == ("unverified", "provider_unavailable")

    v = _registry(agent, org_id).json()
    env.fault("/v1/payments", 504, count=2)
    r = agent.post(
        f"/api/v1/identity/verifications/{v['id']}/deposit",
        json={"account_number": ACCOUNT.account_number, "bank_name": ACCOUNT.bank_name},
    )
    assert error_of(r)[:2] == (503, "provider_unavailable")
    assert env.transfers(ACCOUNT.account_number) == []  # nothing was paid
    view = agent.get(f"/api/v1/identity/verifications/{v['id']}").json()
    assert (view["status"], view["failure_reason"]) == ("failed", "provider_unavailable")
