"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sealpact.accounts.errors import WeakPassword

MIN_LENGTH = 10
# Bounded so a huge "password" cannot make every login attempt an Argon2 DoS.
MAX_LENGTH = 256


def check_policy(password: str, *, identifiers: tuple[str, ...]) -> None:
    """Raise :class:`WeakPassword` (with a message safe to show) when ``password`` is unacceptable."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Password must be at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Password must be at most {MAX_LENGTH} characters.")
    if len(set(password)) < 3:
        raise WeakPassword("Password is too repetitive.")
    lowered = password.strip().lower()
    for identifier in identifiers:
        candidates = {identifier.lower(), identifier.split("@", 1)[0].lower()}
        if lowered in candidates:
            raise WeakPassword("Password must not be your email address or mobile number.")


class Passwords:
    """Argon2id via argon2-cffi. ``hasher`` is injectable so tests can change the parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = (
            hasher or PasswordHasher()
        )  # argon2-cffi defaults: Argon2id, RFC 9106 low-memory profile
        # Verified against when the account does not exist, so both paths cost one Argon2 verification.
        self._dummy_hash = self.hasher.hash("sealpact-dummy-password")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant work whether or not there is a hash; never raises for a wrong password."""
        too_long = len(password) > MAX_LENGTH  # no stored password is longer (policy)
        # Never truncate (that would accept any suffix); verify the dummy instead to keep the same cost.
        target = self._dummy_hash if too_long or password_hash is None else password_hash
        try:
            ok = self.hasher.verify(target, password[: MAX_LENGTH + 1])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return ok and not too_long and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        return self.hasher.check_needs_rehash(password_hash)
