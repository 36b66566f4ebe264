"""Helpers for the API-key and client tests (no tests here): an organization with a key, raw signing.

Requests are signed here with an independent implementation of the documented canonical string (not
with :mod:`sealpact.apiauth.canonical`), so a change to the server's canonicalisation that breaks the
documented format fails the tests instead of silently agreeing with itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from fastapi.testclient import TestClient

from sealpact.clock import FrozenClock
from sealpact.runtime import Runtime
from tests.test_accounts_support import START, setup_accounts, user_client


@dataclass
class Org:
    owner: TestClient
    owner_id: str
    org_id: str


@dataclass(frozen=True)
class Key:
    id: str
    key_id: str
    secret: str


def make_org(runtime: Runtime, email: str = "owner@example.cn", name: str = "Acme") -> Org:
    client, user_id, _ = user_client(runtime, email)
    response = client.post("/api/v1/orgs", json={"name": name})
    assert response.status_code == 201, response.text
    return Org(client, user_id, response.json()["id"])


def setup(runtime: Runtime) -> tuple[FrozenClock, Org]:
    clock = FrozenClock(START)
    setup_accounts(runtime, clock=clock)
    runtime.__dict__.pop("api_keys", None)  # rebuilt with the frozen clock
    return clock, make_org(runtime)


def create_key(client: TestClient, org_id: str, **body: Any) -> Key:
    payload = {"name": "erp", "scopes": ["write"], **body}
    response = client.post(f"/api/v1/orgs/{org_id}/api-keys", json=payload)
    assert response.status_code == 201, response.text
    data = response.json()
    return Key(data["id"], data["key_id"], data["secret"])


def _canonical_query(raw: str) -> str:
    pairs = []
    for part in filter(None, raw.split("&")):
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def signed_headers(
    key: Key,
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes = b"",
    timestamp: int,
    nonce: str | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    nonce = nonce or secrets.token_hex(16)
    text = "\n".join(
        [
            "SEALPACT-HMAC-SHA256",
            method,
            path,
            _canonical_query(query),
            hashlib.sha256(body).hexdigest(),
            str(timestamp),
            nonce,
            key.key_id,
        ]
    )
    signature = hmac.new((secret or key.secret).encode(), text.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Sealpact-Key": key.key_id,
        "X-Sealpact-Timestamp": str(timestamp),
        "X-Sealpact-Nonce": nonce,
        "X-Sealpact-Signature": signature,
    }


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code
