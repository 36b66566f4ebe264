"""/api/v1/custody over HTTP: set a PIN, errors with stable codes (never echoing a PIN), lock, reset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_custody_keys import FAST_KDF, MAX, NEW_PIN, PIN
from tests.test_identity_support import REGISTRY, Env, identity_env


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[Env]:
    yield from identity_env(database_url, tmp_path, **FAST_KDF)


def _error(response: httpx.Response) -> tuple[int, str]:
    assert PIN not in response.text and NEW_PIN not in response.text
    return response.status_code, str(response.json()["error"]["code"])


def test_pin_lifecycle_over_http(env: Env) -> None:
    env.runtime.pki.ensure_hierarchy()
    started = env.clock.now()
    client, user_id = env.client()
    p = REGISTRY.persons[0]
    assert client.post(
        "/api/v1/identity/individual/id2", json={"name": p.name, "id_number": p.id_number}
    ).is_success

    assert _error(client.get("/api/v1/custody/keys")) == (409, "custody_no_key")
    assert _error(client.post("/api/v1/custody/keys", json={"pin": "111111"})) == (422, "pin_weak")
    created = client.post("/api/v1/custody/keys", json={"pin": PIN})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["subject_id"] == user_id and not body["locked"] and PIN not in created.text
    assert _error(client.post("/api/v1/custody/keys", json={"pin": PIN})) == (409, "custody_key_exists")
    assert _error(client.post("/api/v1/custody/keys", json={"pin": PIN, "organization_id": "x"})) == (
        404,
        "not_found",
    )

    wrong = {"old_pin": "135246", "new_pin": NEW_PIN}
    for _ in range(MAX - 1):
        assert _error(client.post("/api/v1/custody/pin/change", json=wrong)) == (422, "pin_invalid")
    assert _error(client.post("/api/v1/custody/pin/change", json=wrong)) == (423, "pin_locked")
    assert client.get("/api/v1/custody/keys").json()["locked"] is True

    reset = client.post(
        "/api/v1/custody/pin/reset",
        json={"new_pin": NEW_PIN, "reverification_started_at": started.isoformat()},
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["key_id"] != body["key_id"] and not reset.json()["locked"]
    changed = client.post("/api/v1/custody/pin/change", json={"old_pin": NEW_PIN, "new_pin": PIN})
    assert changed.status_code == 200, changed.text
    env.runtime.custody.unlock(user_id=user_id, pin=PIN)
