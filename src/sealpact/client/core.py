"""``SealpactClient``: signed requests with an organization API key, safe retries, the contract API.

Every attempt is signed afresh (new timestamp and nonce, see :mod:`sealpact.apiauth.canonical`), so a
retry is never a replay. Every POST carries an ``Idempotency-Key`` generated once per call and reused
by all of its attempts, so the server (which honours it for contract creation and sending) applies
the call at most once.

Retry policy (``max_retries`` extra attempts, exponential backoff):

* connection could not be made (nothing was sent), 429 (refused before any work, ``Retry-After``
  honoured up to ``max_retry_after``) and 503: retried for every method;
* ambiguous failures, where the server may have done the work (read/write timeouts, dropped
  connections, 502, 504): retried only for calls that are safe to repeat: GET, HEAD, PUT, DELETE, and
  POSTs the server deduplicates by their Idempotency-Key (``idempotent=True``).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from sealpact.apiauth import canonical
from sealpact.client.errors import ApiError, SealpactConnectionError, error_class

RETRY_ALWAYS = frozenset({429, 503})
RETRY_IF_IDEMPOTENT = frozenset({502, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
USER_AGENT = "sealpact-python-client"


class SealpactClient:
    """A client for one organization API key.

    ``http`` may be any ``httpx.Client`` (e.g. a test client or one with custom TLS settings); by
    default one is made for ``base_url``. ``clock`` (Unix seconds) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
        max_retry_after: float = 60.0,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not canonical.KEY_ID_PATTERN.fullmatch(key_id):
            raise ValueError("key_id is not a sealpact API key id (spak_...)")
        if not secret:
            raise ValueError("secret is required")
        self._key_id = key_id
        self._secret = secret
        self._owns_http = http is None
        self._http = http or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._max_retries = max_retries
        self._backoff = backoff_seconds
        self._max_retry_after = max_retry_after
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:  # never show the secret
        return f"SealpactClient(base_url={str(self._http.base_url)!r}, key_id={self._key_id!r})"

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SealpactClient:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the generic request ------------------------------------------------------------------------

    def sign(self, request: httpx.Request) -> httpx.Request:
        """Add the four signing headers to ``request`` (fresh timestamp and nonce)."""
        raw = request.url.raw_path.decode("ascii")
        path, _, query = raw.partition("?")
        timestamp = str(int(self._clock()))
        nonce = secrets.token_urlsafe(24)
        text = canonical.string_to_sign(
            method=request.method,
            path=path,
            raw_query=query,
            body_hash=canonical.body_sha256(request.content),
            timestamp=timestamp,
            nonce=nonce,
            key_id=self._key_id,
        )
        request.headers[canonical.HEADER_KEY] = self._key_id
        request.headers[canonical.HEADER_TIMESTAMP] = timestamp
        request.headers[canonical.HEADER_NONCE] = nonce
        request.headers[canonical.HEADER_SIGNATURE] = canonical.sign(self._secret, text)
        return request

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | bool] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a signed request with retries; returns the 2xx response or raises an :class:`ApiError`.

        POSTs get an ``Idempotency-Key`` (``idempotency_key`` or a random one) that every retry reuses.
        ``idempotent`` says whether an ambiguous failure may be retried (default: by method).
        """
        method = method.upper()
        headers = {"user-agent": USER_AGENT, "accept": "application/json"}
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            content_type = "application/json"
        if content_type is not None:
            headers["content-type"] = content_type
        if method == "POST":
            headers["idempotency-key"] = idempotency_key or str(uuid.uuid4())
        repeatable = idempotent if idempotent is not None else method in SAFE_METHODS
        query = {k: _query_value(v) for k, v in (params or {}).items()}
        attempt = 0
        while True:
            request = self._http.build_request(method, path, params=query, content=content, headers=headers)
            self.sign(request)
            try:
                response = self._http.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if attempt >= self._max_retries:
                    raise SealpactConnectionError(
                        f"Could not reach the server: {type(exc).__name__}"
                    ) from exc
                delay = self._delay(attempt, None)
            except httpx.TransportError as exc:
                if not repeatable or attempt >= self._max_retries:
                    raise SealpactConnectionError(
                        f"The request failed in transit ({type(exc).__name__}); it may or may not have "
                        "been applied."
                    ) from exc
                delay = self._delay(attempt, None)
            else:
                if response.is_success:
                    return response
                retry = response.status_code in RETRY_ALWAYS or (
                    repeatable and response.status_code in RETRY_IF_IDEMPOTENT
                )
                retry_after = _retry_after(response)
                if (
                    not retry
                    or attempt >= self._max_retries
                    or (retry_after is not None and retry_after > self._max_retry_after)
                ):
                    raise _api_error(response, retry_after)
                response.close()
                delay = self._delay(attempt, retry_after)
            self._sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return float(self._backoff * (2**attempt))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # -- files --------------------------------------------------------------------------------------

    def upload_file(self, content: bytes, filename: str, content_type: str = "application/pdf") -> Any:
        """Upload a file (e.g. a template's PDF); its metadata."""
        return self._json(
            "POST", "/api/v1/files", params={"filename": filename}, content=content, content_type=content_type
        )

    def list_files(self, limit: int = 50) -> Any:
        return self._json("GET", "/api/v1/files", params={"limit": limit})

    def get_file(self, file_id: str) -> Any:
        return self._json("GET", f"/api/v1/files/{_seg(file_id)}")

    def download_file(self, file_id: str) -> bytes:
        return self.request("GET", f"/api/v1/files/{_seg(file_id)}/content").content

    # -- contracts ----------------------------------------------------------------------------------

    def create_contract(self, spec: Mapping[str, Any], *, idempotency_key: str | None = None) -> Any:
        """Create a draft (the server deduplicates by Idempotency-Key, so this is retried safely)."""
        return self._json(
            "POST",
            "/api/v1/contracts",
            json_body=dict(spec),
            idempotency_key=idempotency_key,
            idempotent=True,
        )

    def list_contracts(
        self,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: str | None = None,
        organization_id: str | None = None,
    ) -> Any:
        params: dict[str, str | int | bool] = {"limit": limit}
        for name, value in (("cursor", cursor), ("status", status), ("organization_id", organization_id)):
            if value is not None:
                params[name] = value
        return self._json("GET", "/api/v1/contracts", params=params)

    def get_contract(self, contract_id: str) -> Any:
        return self._json("GET", f"/api/v1/contracts/{_seg(contract_id)}")

    def contract_events(self, contract_id: str) -> Any:
        return self._json("GET", f"/api/v1/contracts/{_seg(contract_id)}/events")

    def upload_document(
        self, contract_id: str, content: bytes, filename: str, content_type: str = "application/pdf"
    ) -> Any:
        return self._json(
            "POST",
            f"/api/v1/contract-documents/{_seg(contract_id)}",
            params={"filename": filename},
            content=content,
            content_type=content_type,
        )

    def set_parties(self, contract_id: str, parties: list[Mapping[str, Any]]) -> Any:
        body = {"parties": [dict(p) for p in parties]}
        return self._json("PUT", f"/api/v1/contracts/{_seg(contract_id)}/parties", json_body=body)

    def set_fields(self, contract_id: str, fields: list[Mapping[str, Any]]) -> Any:
        body = {"fields": [dict(f) for f in fields]}
        return self._json("PUT", f"/api/v1/contracts/{_seg(contract_id)}/fields", json_body=body)

    def send_contract(self, contract_id: str, *, idempotency_key: str | None = None) -> Any:
        return self._json(
            "POST",
            f"/api/v1/contracts/{_seg(contract_id)}/send",
            idempotency_key=idempotency_key,
            idempotent=True,
        )

    def cancel_contract(self, contract_id: str, reason: str | None = None) -> Any:
        return self._json(
            "POST", f"/api/v1/contracts/{_seg(contract_id)}/cancel", json_body={"reason": reason}
        )

    def remind(self, contract_id: str, party_id: str | None = None) -> Any:
        return self._json(
            "POST", f"/api/v1/contracts/{_seg(contract_id)}/remind", json_body={"party_id": party_id}
        )

    def correct_contact(
        self, contract_id: str, party_id: str, *, email: str | None = None, mobile: str | None = None
    ) -> Any:
        return self._json(
            "PATCH",
            f"/api/v1/contracts/{_seg(contract_id)}/parties/{_seg(party_id)}/contact",
            json_body={"email": email, "mobile": mobile},
        )

    def download_document(self, contract_id: str, document_id: str, *, original: bool = False) -> bytes:
        path = f"/api/v1/contracts/{_seg(contract_id)}/documents/{_seg(document_id)}/content"
        return self.request("GET", path, params={"original": original}).content

    def download_certificate(self, contract_id: str) -> bytes:
        return self.request("GET", f"/api/v1/contracts/{_seg(contract_id)}/certificate").content

    def contract_from_template(
        self, template_id: str, spec: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        return self._json(
            "POST",
            f"/api/v1/contract-templates/{_seg(template_id)}/contracts",
            json_body=dict(spec),
            idempotency_key=idempotency_key,
            idempotent=True,
        )


def _seg(value: str) -> str:
    """One path segment, percent-encoded (an id can never climb to another path)."""
    return quote(value, safe="")


def _query_value(value: str | int | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _api_error(response: httpx.Response, retry_after: float | None) -> ApiError:
    code, message = "http_error", response.reason_phrase or "error"
    try:
        error = response.json().get("error", {})
        code = str(error.get("code", code))
        message = str(error.get("message", message))
    except (ValueError, AttributeError):
        pass
    return error_class(response.status_code)(
        response.status_code,
        code,
        message,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after,
    )
