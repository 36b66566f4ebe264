"""HMAC request signing: round trip, and any change to method, path, body, time or nonce is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpact.identity.errors import CallbackRejected, SignatureInvalid
from sealpact.identity.signing import (
    H_NONCE,
    H_SIGNATURE,
    H_TIMESTAMP,
    MemoryNonceStore,
    sign_headers,
    string_to_sign,
    verify_signed,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KEYS = {"k1": b"secret-one-" * 3, "k2": b"secret-two-" * 3}


def _verify(
    headers: dict[str, str],
    *,
    method: str = "POST",
    path: str = "/cb?x=1",
    body: bytes = b"{}",
    now: datetime = NOW,
) -> str:
    return verify_signed(
        method=method,
        path=path,
        headers=headers,
        body=body,
        secrets_by_key=KEYS,
        now=now,
        nonces=MemoryNonceStore(),
    )


def _sign(body: bytes = b"{}", path: str = "/cb?x=1", key: str = "k1") -> dict[str, str]:
    return sign_headers(key_id=key, secret=KEYS[key], method="POST", path=path, body=body, now=NOW)


def test_string_to_sign_layout() -> None:
    text = string_to_sign("post", "/v1/x?a=b", 1700000000, "n" * 32, b"")
    assert text == (
        b"SEALPACT-HMAC-SHA256\nPOST\n/v1/x?a=b\n1700000000\n" + b"n" * 32 + b"\n"
        b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of the empty string
    )


def test_round_trip_and_window() -> None:
    assert _verify(_sign()) == "k1"
    assert _verify(_sign(), now=NOW + timedelta(minutes=4)) == "k1"
    with pytest.raises(CallbackRejected) as info:
        _verify(_sign(), now=NOW + timedelta(minutes=6))
    assert info.value.code == "message_stale"
    with pytest.raises(CallbackRejected):
        _verify(_sign(), now=NOW - timedelta(minutes=6))  # from the future


def test_replay_in_window_and_nonce_only_consumed_when_authentic() -> None:
    store = MemoryNonceStore()
    headers = _sign()
    forged = {**headers, H_SIGNATURE: "0" * 64}
    args = {
        "method": "POST",
        "path": "/cb?x=1",
        "body": b"{}",
        "secrets_by_key": KEYS,
        "now": NOW,
        "nonces": store,
    }
    with pytest.raises(SignatureInvalid):
        verify_signed(headers=forged, **args)
    assert verify_signed(headers=headers, **args) == "k1"
    with pytest.raises(CallbackRejected) as info:
        verify_signed(headers=headers, **args)
    assert info.value.code == "message_replayed"


def test_wrong_key_missing_and_malformed_headers() -> None:
    headers = _sign()
    with pytest.raises(SignatureInvalid):
        _verify({**headers, "X-Sealpact-Key-Id": "k2"})
    with pytest.raises(SignatureInvalid):
        _verify({**headers, "X-Sealpact-Key-Id": "nobody"})
    for name in (H_NONCE, H_SIGNATURE, H_TIMESTAMP):
        with pytest.raises(SignatureInvalid):
            _verify({k: v for k, v in headers.items() if k != name})
    with pytest.raises(SignatureInvalid):
        _verify({**headers, H_TIMESTAMP: "12a"})
    assert _verify({k.lower(): v for k, v in headers.items()}) == "k1"  # header names are case-insensitive


@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0, max_value=199), st.integers(1, 255))
def test_any_body_change_is_refused(body: bytes, position: int, flip: int) -> None:
    headers = _sign(body)
    index = position % len(body)
    changed = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(SignatureInvalid):
        _verify(headers, body=changed)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/?=&-", min_size=1, max_size=40))
def test_path_and_method_are_bound(suffix: str) -> None:
    headers = _sign(path="/cb?x=1")
    with pytest.raises(SignatureInvalid):
        _verify(headers, path="/cb?x=1" + suffix)
    with pytest.raises(SignatureInvalid):
        _verify(headers, method="PUT")
