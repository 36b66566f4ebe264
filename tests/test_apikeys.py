"""Organization API keys and signed requests, through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sealpact.apiauth import canonical
from sealpact.apiauth.models import ApiNonce, OrgApiKey
from sealpact.audit.models import AuditEvent
from sealpact.contracts.models import Contract
from sealpact.errors import SealpactError
from sealpact.runtime import Runtime
from tests.test_accounts_support import make_client, totp_code, user_client
from tests.test_apikeys_support import Key, create_key, error_code, make_org, setup, signed_headers

# -- the pure canonical form, against vectors written elsewhere ----------------------------------------


def test_hmac_matches_rfc4231_test_case_2() -> None:
    # RFC 4231 section 4.3: key "Jefe", data "what do ya want for nothing?".
    assert canonical.sign("Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_string_to_sign_is_the_documented_eight_lines() -> None:
    text = canonical.string_to_sign(
        method="post",
        path="/api/v1/contracts/a%2Fb",
        raw_query="b=2&a=x+y&a=%7e1&flag",
        body_hash=canonical.body_sha256(b""),
        timestamp="1767225600",
        nonce="n" * 16,
        key_id="spak_abc12345",
    )
    assert text.split("\n") == [
        "SEALPACT-HMAC-SHA256",
        "POST",
        "/api/v1/contracts/a%2Fb",
        "a=x%2By&a=~1&b=2&flag=",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # SHA-256 of ""
        "1767225600",
        "nnnnnnnnnnnnnnnn",
        "spak_abc12345",
    ]
    assert canonical.canonical_query("") == ""
    assert canonical.canonical_query("q=%E5%90%88%E5%90%8C") == "q=%E5%90%88%E5%90%8C"


# -- key management -----------------------------------------------------------------------------------


def test_owner_creates_lists_and_revokes_secret_shown_once_stored_encrypted(runtime: Runtime) -> None:
    _clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id, scopes=["read"], rate_limit_per_minute=30)
    assert key.key_id.startswith("spak_") and key.secret.startswith("spas_")

    listed = org.owner.get(f"/api/v1/orgs/{org.org_id}/api-keys")
    assert listed.status_code == 200
    [view] = listed.json()
    assert view["key_id"] == key.key_id and view["scopes"] == ["read"]
    assert view["rate_limit_per_minute"] == 30 and "secret" not in view
    assert key.secret not in listed.text

    with runtime.sessions() as session:
        row = session.get(OrgApiKey, key.id)
        assert row is not None
        assert key.secret not in row.secret_enc
        assert runtime.fields.decrypt(row.secret_enc, purpose="apikey.secret") == key.secret
        with pytest.raises(SealpactError):  # bound to its purpose
            runtime.fields.decrypt(row.secret_enc, purpose="accounts.totp")
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.organization_id == org.org_id)
        ).all()
        assert "api_key.created" in actions
        assert all(key.secret not in e.details for e in session.scalars(select(AuditEvent)))

    revoked = org.owner.delete(f"/api/v1/orgs/{org.org_id}/api-keys/{key.id}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    again = org.owner.delete(f"/api/v1/orgs/{org.org_id}/api-keys/{key.id}")
    assert again.status_code == 200  # idempotent


def test_management_is_for_owners_and_admins_of_that_org_only(runtime: Runtime) -> None:
    _clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id)
    member, _member_id, _ = user_client(runtime, "member@example.cn")
    admin, _admin_id, _ = user_client(runtime, "admin@example.cn")
    for email, role in (("member@example.cn", "member"), ("admin@example.cn", "admin")):
        added = org.owner.post(f"/api/v1/orgs/{org.org_id}/members", json={"identifier": email, "role": role})
        assert added.status_code == 201, added.text

    denied = member.post(f"/api/v1/orgs/{org.org_id}/api-keys", json={"name": "x", "scopes": ["read"]})
    assert denied.status_code == 403 and error_code(denied) == "permission_denied"
    assert member.get(f"/api/v1/orgs/{org.org_id}/api-keys").status_code == 403
    assert member.delete(f"/api/v1/orgs/{org.org_id}/api-keys/{key.id}").status_code == 403
    create_key(admin, org.org_id, name="admin's key")

    # Another organization's owner: its ids answer 404, and keys cannot be revoked across orgs.
    other = make_org(runtime, "rival@example.cn", "Rival")
    assert other.owner.get(f"/api/v1/orgs/{org.org_id}/api-keys").status_code == 404
    cross = other.owner.delete(f"/api/v1/orgs/{other.org_id}/api-keys/{key.id}")
    assert cross.status_code == 404
    with runtime.sessions() as session:
        row = session.get(OrgApiKey, key.id)
        assert row is not None and row.revoked_at is None


def test_bad_input_changes_nothing(runtime: Runtime) -> None:
    _clock, org = setup(runtime)
    url = f"/api/v1/orgs/{org.org_id}/api-keys"
    for body in (
        {"name": "", "scopes": ["read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": ["read"], "rate_limit_per_minute": 0},
        {"name": "x", "scopes": ["read"], "expires_in_days": 0},
        {"name": "x", "scopes": ["read"], "secret": "mine"},
    ):
        response = org.owner.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OrgApiKey)) == 0


def test_personal_token_needs_admin_scope_and_a_key_cannot_mint_keys(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    token = org.owner.post("/api/v1/tokens", json={"name": "cli", "scopes": ["write"]}).json()["token"]
    bare = make_client(runtime)
    response = bare.post(
        f"/api/v1/orgs/{org.org_id}/api-keys",
        json={"name": "x", "scopes": ["read"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"

    admin_key = create_key(org.owner, org.org_id, scopes=["admin"])
    body = json.dumps({"name": "child", "scopes": ["read"]}).encode()
    path = f"/api/v1/orgs/{org.org_id}/api-keys"
    headers = signed_headers(admin_key, "POST", path, body=body, timestamp=int(clock.now().timestamp()))
    minted = bare.post(path, content=body, headers={**headers, "content-type": "application/json"})
    assert minted.status_code == 403 and error_code(minted) == "api_key_not_allowed"


# -- signed requests ----------------------------------------------------------------------------------


def _get(client: TestClient, key: Key, path: str, ts: int) -> httpx.Response:
    return client.get(path, headers=signed_headers(key, "GET", path, timestamp=ts))


def test_signed_request_acts_for_its_organization_only(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    # The owner belongs to a second organization too; the key of the first never reaches it.
    second = org.owner.post("/api/v1/orgs", json={"name": "Second"}).json()["id"]
    key = create_key(org.owner, org.org_id, scopes=["read"])
    ts = int(clock.now().timestamp())
    client = make_client(runtime)

    orgs = client.get("/api/v1/orgs", headers=signed_headers(key, "GET", "/api/v1/orgs", timestamp=ts))
    assert orgs.status_code == 200, orgs.text
    assert [o["id"] for o in orgs.json()] == [org.org_id]
    path = f"/api/v1/orgs/{second}"
    hidden = client.get(path, headers=signed_headers(key, "GET", path, timestamp=ts))
    assert hidden.status_code == 404 and error_code(hidden) == "not_found"

    # The query string is signed (canonically ordered) too.
    path, query = "/api/v1/contracts", "organization_id=" + org.org_id + "&limit=5"
    listed = client.get(
        f"{path}?{query}", headers=signed_headers(key, "GET", path, query=query, timestamp=ts)
    )
    assert listed.status_code == 200, listed.text
    with runtime.sessions() as session:
        row = session.get(OrgApiKey, key.id)
        assert row is not None and row.last_used_at == clock.now()


def test_signed_post_body_reaches_the_route_and_a_replay_is_rejected(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id)
    client = make_client(runtime)
    body = json.dumps({"title": "Supply agreement", "organization_id": org.org_id}).encode()
    headers = {
        **signed_headers(key, "POST", "/api/v1/contracts", body=body, timestamp=int(clock.now().timestamp())),
        "content-type": "application/json",
    }
    created = client.post("/api/v1/contracts", content=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "Supply agreement"

    clock.advance(seconds=30)
    replay = make_client(runtime).post("/api/v1/contracts", content=body, headers=headers)
    assert replay.status_code == 401 and error_code(replay) == "nonce_reused"
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contract)) == 1
        events = session.scalars(select(AuditEvent).where(AuditEvent.actor_kind == "api_key")).all()
        assert events and {e.actor_token_id for e in events} == {key.id}


def test_signed_raw_upload_stores_exactly_the_signed_bytes(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id)
    client = make_client(runtime)
    content = b"%PDF-1.7\n" + bytes(range(256)) * 400 + b"\n%%EOF\n"
    query = "filename=invoice.pdf"
    headers = signed_headers(
        key, "POST", "/api/v1/files", query=query, body=content, timestamp=int(clock.now().timestamp())
    )
    up = client.post(
        f"/api/v1/files?{query}", content=content, headers={**headers, "content-type": "application/pdf"}
    )
    assert up.status_code == 201, up.text
    path = f"/api/v1/files/{up.json()['id']}/content"
    down = client.get(path, headers=signed_headers(key, "GET", path, timestamp=int(clock.now().timestamp())))
    assert down.status_code == 200 and down.content == content


def test_old_timestamps_are_refused_even_when_re_signed(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id, scopes=["read"])
    client = make_client(runtime)
    now = int(clock.now().timestamp())
    for ts in (now - canonical.WINDOW_SECONDS - 1, now + canonical.WINDOW_SECONDS + 1):
        response = _get(client, key, "/api/v1/orgs", ts)
        assert response.status_code == 401 and error_code(response) == "timestamp_out_of_window"
    for ts in (now - canonical.WINDOW_SECONDS, now + canonical.WINDOW_SECONDS):
        assert _get(client, key, "/api/v1/orgs", ts).status_code == 200

    # A captured request is refused after the window by its timestamp, inside it by its nonce.
    captured = signed_headers(key, "GET", "/api/v1/orgs", timestamp=now, nonce="captured-nonce-0001")
    assert client.get("/api/v1/orgs", headers=captured).status_code == 200
    assert error_code(client.get("/api/v1/orgs", headers=captured)) == "nonce_reused"
    clock.advance(seconds=canonical.WINDOW_SECONDS + 1)
    assert error_code(client.get("/api/v1/orgs", headers=captured)) == "timestamp_out_of_window"
    # The nonce may come back once its window is over: a new timestamp makes it a new request.
    fresh = signed_headers(
        key, "GET", "/api/v1/orgs", timestamp=int(clock.now().timestamp()), nonce="captured-nonce-0001"
    )
    assert client.get("/api/v1/orgs", headers=fresh).status_code == 200
    assert runtime.api_keys.purge_expired()["nonces"] >= 1  # those of the first requests
    clock.advance(seconds=61)
    assert runtime.api_keys.purge_expired()["rate_windows"] == 1  # the window of the last request


@pytest.mark.parametrize("tamper", ["body", "query", "path", "method", "secret", "key", "header"])
def test_tampered_requests_are_refused(runtime: Runtime, tamper: str) -> None:
    clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id)
    client = make_client(runtime)
    ts = int(clock.now().timestamp())
    body = json.dumps({"title": "Lease", "organization_id": org.org_id}).encode()
    headers = signed_headers(key, "POST", "/api/v1/contracts", query="x=1", body=body, timestamp=ts)
    url, method = "/api/v1/contracts?x=1", "POST"
    if tamper == "body":
        body = body.replace(b"Lease", b"Loan!")
    elif tamper == "query":
        url = "/api/v1/contracts?x=2"
    elif tamper == "path":
        url = f"/api/v1/orgs/{org.org_id}/api-keys?x=1"
    elif tamper == "method":
        method = "PUT"
    elif tamper == "secret":
        headers = signed_headers(
            key, "POST", "/api/v1/contracts", query="x=1", body=body, timestamp=ts, secret="spas_guess"
        )
    elif tamper == "key":
        headers["X-Sealpact-Key"] = "spak_000000000000000000000000"
    else:
        del headers["X-Sealpact-Nonce"]
    response = client.request(
        method, url, content=body, headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code in (401, 405), response.text
    if response.status_code == 401:
        assert error_code(response) == "signature_invalid"
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contract)) == 0
        if tamper != "header":  # a refused signature burns no nonce
            assert session.scalar(select(func.count()).select_from(ApiNonce)) == 0


def test_scopes_rate_limit_revocation_expiry_and_membership(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    client = make_client(runtime)
    reader = create_key(org.owner, org.org_id, scopes=["read"], rate_limit_per_minute=2)
    body = json.dumps({"title": "x", "organization_id": org.org_id}).encode()

    def post(key: Key) -> httpx.Response:
        ts = int(clock.now().timestamp())
        headers = signed_headers(key, "POST", "/api/v1/contracts", body=body, timestamp=ts)
        return client.post(
            "/api/v1/contracts", content=body, headers={**headers, "content-type": "application/json"}
        )

    denied = post(reader)
    assert denied.status_code == 403 and error_code(denied) == "insufficient_scope"

    # Rate limit: 2 per fixed minute, then 429 with Retry-After until the next window.
    clock.advance(seconds=60 - clock.now().second)  # the start of a minute
    ts = int(clock.now().timestamp())
    assert _get(client, reader, "/api/v1/orgs", ts).status_code == 200
    assert _get(client, reader, "/api/v1/orgs", ts).status_code == 200
    clock.advance(seconds=20)
    limited = _get(client, reader, "/api/v1/orgs", int(clock.now().timestamp()))
    assert limited.status_code == 429 and error_code(limited) == "rate_limited"
    assert limited.headers["retry-after"] == "40"
    clock.advance(seconds=40)
    assert _get(client, reader, "/api/v1/orgs", int(clock.now().timestamp())).status_code == 200

    # Revocation.
    writer = create_key(org.owner, org.org_id)
    assert post(writer).status_code == 201
    assert org.owner.delete(f"/api/v1/orgs/{org.org_id}/api-keys/{writer.id}").status_code == 200
    assert post(writer).status_code == 401

    # A key made by an admin outlives the admin's membership; removing the key's own membership stops it.
    admin, admin_id, _ = user_client(runtime, "admin@example.cn")
    added = org.owner.post(
        f"/api/v1/orgs/{org.org_id}/members", json={"identifier": "admin@example.cn", "role": "admin"}
    )
    assert added.status_code == 201
    admins = create_key(admin, org.org_id, scopes=["read"])
    assert _get(client, admins, "/api/v1/orgs", int(clock.now().timestamp())).status_code == 200
    assert org.owner.delete(f"/api/v1/orgs/{org.org_id}/members/{admin_id}").status_code in (200, 204)
    assert _get(client, admins, "/api/v1/orgs", int(clock.now().timestamp())).status_code == 200
    members = org.owner.get(f"/api/v1/orgs/{org.org_id}/members").json()
    service = [m for m in members if m["email"] is None and m["mobile"] is None]
    assert [m["role"] for m in service] == ["member"] * len(service) and len(service) == 2  # reader, admins
    keys = {k["key_id"]: k for k in org.owner.get(f"/api/v1/orgs/{org.org_id}/api-keys").json()}
    service_user = keys[admins.key_id]["service_user_id"]
    assert org.owner.delete(f"/api/v1/orgs/{org.org_id}/members/{service_user}").status_code in (200, 204)
    gone = _get(client, admins, "/api/v1/orgs", int(clock.now().timestamp()))
    assert gone.status_code == 401 and error_code(gone) == "signature_invalid"

    # Expiry.
    expiring = create_key(org.owner, org.org_id, scopes=["read"], expires_in_days=1)
    assert _get(client, expiring, "/api/v1/orgs", int(clock.now().timestamp())).status_code == 200
    clock.advance(days=1)
    expired = _get(client, expiring, "/api/v1/orgs", int(clock.now().timestamp()))
    assert expired.status_code == 401 and error_code(expired) == "signature_invalid"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Sealpact-Key": "not-a-key"},
        {"X-Sealpact-Timestamp": "soon"},
        {"X-Sealpact-Nonce": "short"},
        {"X-Sealpact-Signature": "ABC"},
    ],
)
def test_malformed_signing_headers(runtime: Runtime, headers: dict[str, str]) -> None:
    clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id, scopes=["read"])
    good = signed_headers(key, "GET", "/api/v1/orgs", timestamp=int(clock.now().timestamp()))
    response = make_client(runtime).get("/api/v1/orgs", headers={**good, **headers})
    assert response.status_code == 401 and error_code(response) == "signature_invalid"
    assert "spas_" not in response.text


def test_a_key_never_reaches_its_creators_personal_objects(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    personal = org.owner.post("/api/v1/contracts", json={"title": "My flat"})
    assert personal.status_code == 201
    key = create_key(org.owner, org.org_id, scopes=["admin"])
    client = make_client(runtime)
    ts = int(clock.now().timestamp())
    path = f"/api/v1/contracts/{personal.json()['id']}"
    hidden = client.get(path, headers=signed_headers(key, "GET", path, timestamp=ts))
    assert hidden.status_code == 404
    listed = client.get(
        "/api/v1/contracts", headers=signed_headers(key, "GET", "/api/v1/contracts", timestamp=ts)
    )
    assert listed.status_code == 200 and listed.json()["items"] == []

    # What the key creates for the organization, the organization's members see.
    body = json.dumps({"title": "Supply", "organization_id": org.org_id}).encode()
    headers = signed_headers(key, "POST", "/api/v1/contracts", body=body, timestamp=ts)
    made = client.post(
        "/api/v1/contracts", content=body, headers={**headers, "content-type": "application/json"}
    )
    assert made.status_code == 201, made.text
    assert org.owner.get(f"/api/v1/contracts/{made.json()['id']}").status_code == 200


def test_keys_work_in_an_organization_that_requires_totp(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    key = create_key(org.owner, org.org_id, scopes=["read"])
    secret = org.owner.post("/api/v1/auth/totp/enroll").json()["secret"]
    confirmed = org.owner.post("/api/v1/auth/totp/confirm", json={"code": totp_code(secret, clock.now())})
    assert confirmed.status_code == 200
    patched = org.owner.patch(f"/api/v1/orgs/{org.org_id}", json={"require_totp": True})
    assert patched.status_code == 200 and patched.json()["require_totp"] is True
    path = f"/api/v1/orgs/{org.org_id}"
    response = make_client(runtime).get(
        path, headers=signed_headers(key, "GET", path, timestamp=int(clock.now().timestamp()))
    )
    assert response.status_code == 200, response.text


def test_openapi_documents_the_signing_scheme(runtime: Runtime) -> None:
    setup(runtime)
    schema = make_client(runtime).get("/openapi.json").json()
    operation = schema["paths"]["/api/v1/orgs/{org_id}/api-keys"]["post"]
    for text in ("X-Sealpact-Key", "X-Sealpact-Timestamp", "X-Sealpact-Nonce", "X-Sealpact-Signature"):
        assert text in operation["description"]
    assert "SEALPACT-HMAC-SHA256" in operation["description"]
