"""The Python client (sealpact.client): against the real app, and its retry policy on scripted failures."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select

from sealpact.apiauth import canonical
from sealpact.client import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SealpactClient,
    SealpactConnectionError,
    ServerError,
)
from sealpact.clock import FrozenClock
from sealpact.contracts.models import Contract
from sealpact.runtime import Runtime
from tests.test_accounts_support import make_client
from tests.test_apikeys_support import Key, create_key, make_org, setup
from tests.test_signing_support import make_pdf

KEY_ID = "spak_" + "a1" * 12
SECRET = "spas_" + "s" * 43


def _client_for(
    runtime: Runtime, clock: FrozenClock, key: Key, http: httpx.Client | None = None
) -> SealpactClient:
    return SealpactClient(
        "http://testserver",
        key.key_id,
        key.secret,
        http=http or make_client(runtime),
        clock=lambda: clock.now().timestamp(),
        sleep=lambda _s: None,
    )


# -- against the real application ---------------------------------------------------------------------


def test_contract_and_file_calls_signed_end_to_end(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    client = _client_for(runtime, clock, create_key(org.owner, org.org_id))

    pdf = make_pdf(2)
    info = client.upload_file(pdf, "template.pdf")
    assert client.get_file(info["id"])["sha256"] == info["sha256"]
    assert client.download_file(info["id"]) == pdf
    assert [f["id"] for f in client.list_files()] == [info["id"]]

    draft = client.create_contract({"title": "采购合同", "organization_id": org.org_id})
    client.upload_document(draft["id"], pdf, "contract.pdf")
    parties = [{"name": "张三", "mobile": "13800138000", "min_level": 0, "auth_method": "sms_code"}]
    with_parties = client.set_parties(draft["id"], parties)
    assert [p["name"] for p in with_parties["parties"]] == ["张三"]
    assert client.get_contract(draft["id"])["title"] == "采购合同"
    page = client.list_contracts(organization_id=org.org_id, limit=5)
    assert [c["id"] for c in page["items"]] == [draft["id"]]
    assert (
        client.download_document(draft["id"], client.get_contract(draft["id"])["documents"][0]["id"]) == pdf
    )
    cancelled = client.cancel_contract(draft["id"], "test")
    assert cancelled["status"] in ("cancelled", "canceled")
    assert client.contract_events(draft["id"])


def test_typed_errors_carry_the_api_code(runtime: Runtime) -> None:
    clock, org = setup(runtime)
    # Another organization's contract: 404, as if it did not exist.
    rival = make_org(runtime, "rival@example.cn", "Rival")
    theirs = rival.owner.post("/api/v1/contracts", json={"title": "x", "organization_id": rival.org_id})
    assert theirs.status_code == 201
    client = _client_for(runtime, clock, create_key(org.owner, org.org_id))
    with pytest.raises(NotFoundError) as not_found:
        client.get_contract(theirs.json()["id"])
    assert not_found.value.status == 404 and not_found.value.code == "contract_not_found"
    with pytest.raises(NotFoundError):
        client.list_contracts(organization_id=rival.org_id)

    reader = _client_for(runtime, clock, create_key(org.owner, org.org_id, scopes=["read"]))
    with pytest.raises(PermissionDeniedError) as denied:
        reader.create_contract({"title": "x", "organization_id": org.org_id})
    assert denied.value.code == "insufficient_scope"

    key = create_key(org.owner, org.org_id)
    wrong = _client_for(runtime, clock, Key(key.id, key.key_id, "spas_not-the-secret"))
    with pytest.raises(AuthenticationError) as bad:
        wrong.list_contracts()
    assert bad.value.code == "signature_invalid" and bad.value.request_id

    late = SealpactClient(
        "http://testserver",
        key.key_id,
        key.secret,
        http=make_client(runtime),
        clock=lambda: clock.now().timestamp() - 600,
    )
    with pytest.raises(AuthenticationError) as stale:
        late.list_contracts()
    assert stale.value.code == "timestamp_out_of_window"
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contract)) == 1  # the rival's only
    assert key.secret not in repr(late)


def test_lost_response_is_retried_with_the_same_idempotency_key_and_applied_once(runtime: Runtime) -> None:
    """The server creates the contract but the response is lost (a 504 from a proxy): the retry,
    re-signed with a fresh nonce, carries the same Idempotency-Key and gets the same contract back."""
    clock, org = setup(runtime)
    app = make_client(runtime)
    seen: list[httpx.Request] = []

    def forward(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        upstream = app.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.content,
            headers=dict(request.headers),
        )
        if len(seen) == 1:
            return httpx.Response(504, json={"error": {"code": "gateway_timeout", "message": "lost"}})
        return httpx.Response(upstream.status_code, content=upstream.content, headers=upstream.headers)

    http = httpx.Client(base_url="http://testserver", transport=httpx.MockTransport(forward))
    client = _client_for(runtime, clock, create_key(org.owner, org.org_id), http=http)
    created = client.create_contract({"title": "Once", "organization_id": org.org_id})
    assert len(seen) == 2
    assert seen[0].headers["idempotency-key"] == seen[1].headers["idempotency-key"]
    assert seen[0].headers["x-sealpact-nonce"] != seen[1].headers["x-sealpact-nonce"]
    with runtime.sessions() as session:
        assert session.scalars(select(Contract.id)).all() == [created["id"]]


# -- the retry policy, on scripted answers ------------------------------------------------------------


Script = list[Callable[[httpx.Request], httpx.Response]]


def _scripted(
    script: Script, *, max_retries: int = 3
) -> tuple[SealpactClient, list[httpx.Request], list[float]]:
    requests: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return script[min(len(requests), len(script)) - 1](request)

    http = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(handler))
    client = SealpactClient(
        "http://api.test", KEY_ID, SECRET, http=http, max_retries=max_retries, sleep=sleeps.append
    )
    return client, requests, sleeps


def _status(
    code: int, headers: dict[str, str] | None = None, error: str = "boom"
) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _r: httpx.Response(code, json={"error": {"code": error, "message": "m"}}, headers=headers)


def _ok(_r: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def _raise(exc: type[httpx.TransportError]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("scripted", request=request)

    return handler


def _verify(request: httpx.Request) -> None:
    path, _, query = request.url.raw_path.decode().partition("?")
    text = canonical.string_to_sign(
        method=request.method,
        path=path,
        raw_query=query,
        body_hash=canonical.body_sha256(request.content),
        timestamp=request.headers["x-sealpact-timestamp"],
        nonce=request.headers["x-sealpact-nonce"],
        key_id=request.headers["x-sealpact-key"],
    )
    assert canonical.signature_matches(SECRET, text, request.headers["x-sealpact-signature"])


def test_transient_failures_are_retried_with_backoff_fresh_signatures_same_key() -> None:
    client, requests, sleeps = _scripted([_status(503), _raise(httpx.ConnectError), _ok])
    assert client.create_contract({"title": "x"}) == {"ok": True}
    assert sleeps == [0.5, 1.0]
    assert len({r.headers["idempotency-key"] for r in requests}) == 1
    assert len({r.headers["x-sealpact-nonce"] for r in requests}) == 3
    for request in requests:
        _verify(request)


def test_retry_after_is_honoured_and_a_long_one_is_not_waited_for() -> None:
    client, requests, sleeps = _scripted([_status(429, {"Retry-After": "7"}, "rate_limited"), _ok])
    assert client.list_contracts() == {"ok": True}
    assert sleeps == [7.0] and len(requests) == 2

    client, requests, sleeps = _scripted([_status(429, {"Retry-After": "3600"}, "rate_limited")])
    with pytest.raises(RateLimitedError) as limited:
        client.list_contracts()
    assert limited.value.retry_after == 3600 and limited.value.code == "rate_limited"
    assert sleeps == [] and len(requests) == 1


def test_ambiguous_failures_are_not_retried_for_non_idempotent_calls() -> None:
    client, requests, _ = _scripted([_status(502), _ok])
    with pytest.raises(ServerError) as error:
        client.cancel_contract("c1")
    assert error.value.status == 502 and len(requests) == 1

    client, requests, _ = _scripted([_raise(httpx.ReadTimeout), _ok])
    with pytest.raises(SealpactConnectionError):
        client.remind("c1")
    assert len(requests) == 1

    # The same failures on a GET, or on a POST the server deduplicates, are retried.
    client, requests, _ = _scripted([_raise(httpx.ReadTimeout), _status(502), _ok])
    assert client.get_contract("c1") == {"ok": True} and len(requests) == 3
    client, requests, _ = _scripted([_status(504), _ok])
    assert client.send_contract("c1") == {"ok": True} and len(requests) == 2
    assert requests[0].headers["idempotency-key"] == requests[1].headers["idempotency-key"]


def test_retries_run_out_and_client_errors_are_not_retried() -> None:
    client, requests, sleeps = _scripted([_status(503, error="unavailable")], max_retries=2)
    with pytest.raises(ServerError) as error:
        client.list_files()
    assert error.value.code == "unavailable" and len(requests) == 3 and sleeps == [0.5, 1.0]

    client, requests, _ = _scripted([_status(409, error="invalid_state")])
    with pytest.raises(Exception) as conflict:
        client.send_contract("c1")
    assert getattr(conflict.value, "code", None) == "invalid_state" and len(requests) == 1

    client, requests, _ = _scripted([_raise(httpx.ConnectError)], max_retries=1)
    with pytest.raises(SealpactConnectionError):
        client.list_files()
    assert len(requests) == 2


def test_ids_cannot_escape_their_path_segment_and_bad_keys_are_refused() -> None:
    client, requests, _ = _scripted([_ok])
    client.get_contract("../orgs/x?y=1")
    assert requests[0].url.raw_path == b"/api/v1/contracts/..%2Forgs%2Fx%3Fy%3D1"
    with pytest.raises(ValueError):
        SealpactClient("http://api.test", "not-a-key", SECRET)
    with pytest.raises(ValueError):
        SealpactClient("http://api.test", KEY_ID, "")
