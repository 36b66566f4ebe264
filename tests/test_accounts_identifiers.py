"""Pure parts of accounts: identifier parsing, password policy, scopes and roles, TOTP step matching."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpact.accounts.errors import InvalidIdentifier, WeakPassword
from sealpact.accounts.identifiers import normalise_mobile, parse_identifier
from sealpact.accounts.passwords import MAX_LENGTH, Passwords, check_policy
from sealpact.accounts.permissions import Scope, expand_scopes, parse_scopes
from sealpact.accounts.twofactor import matching_step
from tests.test_accounts_support import FAST_HASHER

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(mobiles, st.sampled_from(["", "+86", "+86 ", "0086", "+86-"]))
def test_mobile_prefixes_normalise(number: str, prefix: str) -> None:
    spaced = f"{number[:3]} {number[3:7]} {number[7:]}"
    assert normalise_mobile(prefix + number) == number
    assert normalise_mobile(prefix + spaced) == number
    assert parse_identifier(prefix + number).kind == "mobile"


@pytest.mark.parametrize(
    "raw",
    [
        "12012345678",
        "1381234567",
        "138123456789",
        "+85213812345678",
        "+1 13812345678",
        "13812345678x",
        "",
        "86",
    ],
)
def test_bad_mobiles(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalise_mobile(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  bob.smith+tag@sub.example.org ", "bob.smith+tag@sub.example.org"),
        ("用户@例子.广告", "用户@例子.广告"),
    ],
)
def test_emails_normalise(raw: str, expected: str) -> None:
    ident = parse_identifier(raw)
    assert (ident.kind, ident.value) == ("email", expected)


@pytest.mark.parametrize("raw", ["a@", "@example.com", "a@b", "a b@example.com", "a@@example.com", "x" * 400])
def test_bad_emails(raw: str) -> None:
    with pytest.raises(InvalidIdentifier):
        parse_identifier(raw)


def test_password_policy() -> None:
    me = ("alexandria.w@example.com",)
    check_policy("a perfectly fine passphrase", identifiers=me)
    for bad in ("short", "aaaaaaaaaaaaaa", "abababababab", "Alexandria.W@Example.com", "Alexandria.W"):
        with pytest.raises(WeakPassword):
            check_policy(bad, identifiers=me)
    with pytest.raises(WeakPassword):
        check_policy("x" * (MAX_LENGTH - 1) + "yz!", identifiers=me)
    with pytest.raises(WeakPassword):
        check_policy("13812345678", identifiers=("13812345678",))


def test_password_verify_never_raises_and_has_no_dummy_success() -> None:
    passwords = Passwords(FAST_HASHER)
    stored = passwords.hash("a perfectly fine passphrase")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "a perfectly fine passphrase")
    assert not passwords.verify(stored, "wrong")
    assert not passwords.verify(None, "sealpact-dummy-password")  # the dummy hash never logs anyone in
    assert not passwords.verify("not a hash", "x")
    longest = "p" * (MAX_LENGTH - 2) + "!?"
    stored = passwords.hash(longest)
    assert passwords.verify(stored, longest)
    assert not passwords.verify(stored, longest + "suffix")  # never truncated into a match


def test_scopes() -> None:
    assert expand_scopes(frozenset({Scope.ADMIN})) == frozenset(Scope)
    assert expand_scopes(frozenset({Scope.WRITE})) == {Scope.WRITE, Scope.READ}
    assert expand_scopes(frozenset({Scope.READ})) == {Scope.READ}
    assert parse_scopes("read write future:scope") == {Scope.READ, Scope.WRITE}


def test_totp_matching_step_rfc6238_vector() -> None:
    # RFC 6238 Appendix B, SHA-1, T = 59 s -> 94287082 (8 digits); our 6-digit codes are its last 6.
    secret = base64.b32encode(b"12345678901234567890").decode()
    at = datetime.fromtimestamp(59, tz=UTC)
    assert matching_step(secret, "287082", at) == 1
    assert matching_step(secret, "287 082", at) == 1
    assert matching_step(secret, "287083", at) is None
    assert matching_step(secret, "abcdef", at) is None
    # RFC 6238 vector at T = 1111111109 -> 07081804, i.e. 081804.
    assert matching_step(secret, "081804", datetime.fromtimestamp(1111111109, tz=UTC)) == 1111111109 // 30
