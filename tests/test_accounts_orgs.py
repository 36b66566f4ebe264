"""Organizations: membership and role checks both ways, cross-organization 404s, required TOTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from sealpact.accounts.permissions import BUILTIN_ROLES, Permission, Role, permissions_of
from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.test_accounts_support import START, setup_accounts, totp_code, user_client


@pytest.fixture
def clock(runtime: Runtime) -> FrozenClock:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    return clock


def _org(client: TestClient, name: str = "Acme Ltd") -> str:
    response = client.post("/api/v1/orgs", json={"name": name})
    assert response.status_code == 201, response.text
    org_id: str = response.json()["id"]
    return org_id


def _add(client: TestClient, org_id: str, identifier: str, role: str) -> int:
    return client.post(
        f"/api/v1/orgs/{org_id}/members", json={"identifier": identifier, "role": role}
    ).status_code


def test_roles_are_permission_sets() -> None:
    assert permissions_of(Role.OWNER) > permissions_of(Role.ADMIN) > permissions_of(Role.MEMBER)
    assert Permission.MEMBERS_MANAGE not in permissions_of(Role.MEMBER)
    assert permissions_of("no-such-role") == frozenset()  # fail closed
    assert set(BUILTIN_ROLES) == {"owner", "admin", "member"}


def test_owner_admin_member_rights(runtime: Runtime, clock: FrozenClock) -> None:
    owner, _owner_id, _ = user_client(runtime, "owner@example.com")
    admin, admin_id, _ = user_client(runtime, "admin@example.com")
    member, member_id, _ = user_client(runtime, "member@example.com")
    _other, other_id, _ = user_client(runtime, "other@example.com")
    org = _org(owner)
    assert owner.get("/api/v1/orgs").json()[0]["my_role"] == "owner"

    assert _add(owner, org, "admin@example.com", "admin") == 201
    assert _add(owner, org, "member@example.com", "member") == 201
    assert _add(owner, org, "member@example.com", "member") == 409  # already a member
    assert _add(owner, org, "nobody@example.com", "member") == 404
    assert _add(owner, org, "other@example.com", "superuser") == 422

    # A member sees the organization and its members but changes nothing.
    assert member.get(f"/api/v1/orgs/{org}").json()["my_role"] == "member"
    assert len(member.get(f"/api/v1/orgs/{org}/members").json()) == 3
    denied = member.post(
        f"/api/v1/orgs/{org}/members", json={"identifier": "other@example.com", "role": "member"}
    )
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    assert member.patch(f"/api/v1/orgs/{org}", json={"name": "Mine now"}).status_code == 403
    assert member.patch(f"/api/v1/orgs/{org}/members/{admin_id}", json={"role": "member"}).status_code == 403
    assert member.delete(f"/api/v1/orgs/{org}/members/{admin_id}").status_code == 403

    # An admin manages members and settings, but not owners.
    assert _add(admin, org, "other@example.com", "member") == 201
    assert admin.patch(f"/api/v1/orgs/{org}/members/{other_id}", json={"role": "admin"}).status_code == 200
    assert admin.patch(f"/api/v1/orgs/{org}/members/{other_id}", json={"role": "owner"}).status_code == 403
    assert (
        admin.patch(f"/api/v1/orgs/{org}", json={"name": "Acme Holdings"}).json()["name"] == "Acme Holdings"
    )
    owners = [m for m in admin.get(f"/api/v1/orgs/{org}/members").json() if m["role"] == "owner"]
    assert admin.delete(f"/api/v1/orgs/{org}/members/{owners[0]['user_id']}").status_code == 403
    assert admin.delete(f"/api/v1/orgs/{org}/members/{other_id}").status_code == 204

    # The owner grants ownership; the last owner cannot leave or be demoted.
    assert (
        owner.patch(f"/api/v1/orgs/{org}/members/{owners[0]['user_id']}", json={"role": "admin"}).json()[
            "error"
        ]["code"]
        == "last_owner"
    )
    assert owner.patch(f"/api/v1/orgs/{org}/members/{admin_id}", json={"role": "owner"}).status_code == 200
    assert (
        owner.patch(f"/api/v1/orgs/{org}/members/{owners[0]['user_id']}", json={"role": "admin"}).status_code
        == 200
    )

    # Any member may leave.
    assert member.delete(f"/api/v1/orgs/{org}/members/{member_id}").status_code == 204
    assert member.get(f"/api/v1/orgs/{org}").status_code == 404
    assert member.get("/api/v1/orgs").json() == []


def test_other_organizations_answer_404(runtime: Runtime, clock: FrozenClock) -> None:
    acme, _, _ = user_client(runtime, "a@acme.example")
    globex, globex_user, _ = user_client(runtime, "g@globex.example")
    acme_org = _org(acme, "Acme")
    globex_org = _org(globex, "Globex")

    for response in (
        globex.get(f"/api/v1/orgs/{acme_org}"),
        globex.get(f"/api/v1/orgs/{acme_org}/members"),
        globex.patch(f"/api/v1/orgs/{acme_org}", json={"name": "Pwned"}),
        globex.post(
            f"/api/v1/orgs/{acme_org}/members", json={"identifier": "g@globex.example", "role": "owner"}
        ),
        globex.delete(f"/api/v1/orgs/{acme_org}/members/{globex_user}"),
        globex.get("/api/v1/orgs/00000000-0000-0000-0000-000000000000"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"
    # A real org and a made-up id look identical from outside.
    assert globex.get(f"/api/v1/orgs/{acme_org}").json() == globex.get("/api/v1/orgs/nope").json()
    assert acme.get(f"/api/v1/orgs/{acme_org}").json()["name"] == "Acme"
    assert [o["id"] for o in globex.get("/api/v1/orgs").json()] == [globex_org]
    # Members of another org are not found through one's own org either.
    acme_user = acme.get("/api/v1/auth/session").json()["user"]["id"]
    assert globex.delete(f"/api/v1/orgs/{globex_org}/members/{acme_user}").status_code == 404


def test_org_can_require_totp(runtime: Runtime, clock: FrozenClock) -> None:
    owner, _, _ = user_client(runtime, "sec@example.com")
    member, _, _ = user_client(runtime, "lax@example.com")
    org = _org(owner)
    assert _add(owner, org, "lax@example.com", "member") == 201

    # The owner cannot require what they do not have.
    refused = owner.patch(f"/api/v1/orgs/{org}", json={"require_totp": True})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "totp_required"

    secret = owner.post("/api/v1/auth/totp/enroll").json()["secret"]
    assert (
        owner.post("/api/v1/auth/totp/confirm", json={"code": totp_code(secret, clock.now())}).status_code
        == 200
    )
    assert owner.patch(f"/api/v1/orgs/{org}", json={"require_totp": True}).json()["require_totp"] is True

    blocked = member.get(f"/api/v1/orgs/{org}")
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "totp_required"
    assert "two-factor" in blocked.json()["error"]["message"]
    assert owner.get(f"/api/v1/orgs/{org}/members").status_code == 200

    m_secret = member.post("/api/v1/auth/totp/enroll").json()["secret"]
    assert (
        member.post("/api/v1/auth/totp/confirm", json={"code": totp_code(m_secret, clock.now())}).status_code
        == 200
    )
    assert member.get(f"/api/v1/orgs/{org}").status_code == 200


def test_org_input_validation(runtime: Runtime, clock: FrozenClock) -> None:
    owner, _, _ = user_client(runtime, "val@example.com")
    assert owner.post("/api/v1/orgs", json={"name": ""}).status_code == 422
    assert owner.post("/api/v1/orgs", json={"name": "   "}).status_code == 422
    assert owner.post("/api/v1/orgs", json={"name": "x" * 201}).status_code == 422
    assert owner.get("/api/v1/orgs").json() == []
