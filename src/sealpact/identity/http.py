"""The signed JSON-over-HTTP client every sealpact-contract provider adapter uses.

Timeouts on connect and read; limited retries on *transient* failures only (connection errors,
timeouts, 502/503/504 and 429), with the same ``Idempotency-Key`` on every try so a provider that
already acted on a lost response does not act twice (a micro-deposit must not be paid twice). A 4xx
is our fault or a refusal and is not retried. Messages never carry the request body.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from sealpact.clock import Clock
from sealpact.identity.errors import ProviderRejected, ProviderUnavailable
from sealpact.identity.signing import sign_headers

log = logging.getLogger("sealpact.identity.http")

TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


class SignedHttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        key_id: str,
        secret: bytes,
        clock: Clock,
        provider: str,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self._secret = secret
        self._clock = clock
        self.provider = provider
        self._retries = max(0, retries)
        self._backoff = backoff
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            follow_redirects=False,
        )

    @property
    def secret(self) -> bytes:
        return self._secret

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, payload: dict[str, Any] | None, *, idempotency_key: str) -> Any:
        """Send a signed request and return the decoded JSON body of a 2xx answer."""
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        url = self.base_url + path
        path_for_signature = httpx.URL(url).raw_path.decode("ascii")
        attempt = 0
        while True:
            attempt += 1
            headers = sign_headers(
                key_id=self.key_id,
                secret=self._secret,
                method=method,
                path=path_for_signature,
                body=body,
                now=self._clock.now(),
            )
            headers["Idempotency-Key"] = idempotency_key
            if payload is not None:
                headers["Content-Type"] = "application/json; charset=utf-8"
            try:
                response = self._client.request(method, url, content=body, headers=headers)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                failure = f"{type(exc).__name__}"
                if attempt <= self._retries:
                    log.warning("%s %s: %s, retrying (%d)", self.provider, path, failure, attempt)
                    self._sleep(self._backoff * attempt)
                    continue
                raise ProviderUnavailable(
                    f"The {self.provider} identity provider did not answer in time; try again later."
                ) from None
            if response.status_code in TRANSIENT_STATUS and attempt <= self._retries:
                log.warning(
                    "%s %s: HTTP %d, retrying (%d)", self.provider, path, response.status_code, attempt
                )
                self._sleep(self._backoff * attempt)
                continue
            return self._decode(response, path)

    def _decode(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        if status >= 500 or status in TRANSIENT_STATUS:
            log.warning("%s %s: HTTP %d", self.provider, path, status)
            raise ProviderUnavailable(
                f"The {self.provider} identity provider is unavailable (HTTP {status})."
            )
        if status >= 400:
            code = _error_code(response)
            log.warning("%s %s: refused with HTTP %d (%s)", self.provider, path, status, code)
            raise ProviderRejected(f"The {self.provider} identity provider refused the request ({code}).")
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable(
                f"The {self.provider} identity provider sent an unreadable answer."
            ) from None


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
        code = body["error"]["code"]
        return code if isinstance(code, str) and code.isascii() and len(code) < 64 else "error"
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}"
