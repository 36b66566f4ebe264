"""TOTP second factor (RFC 6238) and single-use recovery codes.

The TOTP secret is encrypted at rest with the field cipher. A code is accepted for the current
30-second step or one step either side (clock skew, RFC 6238 §5.2), and never for a step at or
before the last one accepted, so an observed code cannot be replayed within its window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pyotp
from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from sealpact.accounts.common import TOTP_PURPOSE, AccountsDeps, display_identifier
from sealpact.accounts.errors import AccountLocked, InvalidTotp, SessionInvalid, TotpStateError
from sealpact.accounts.models import RecoveryCode, User
from sealpact.accounts.principal import Principal
from sealpact.accounts.throttle import account_user_key
from sealpact.audit import record
from sealpact.context import RequestContext
from sealpact.db import transaction

ISSUER = "sealpact"
SKEW_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper

CodeKind = Literal["totp", "recovery_code"]


@dataclass(frozen=True)
class Enrollment:
    secret: str  # shown once, for manual entry
    otpauth_uri: str  # for the QR code


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))  # ~78 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _normalise_code(code: str) -> str:
    return code.strip().replace(" ", "").replace("-", "").lower()


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(("sealpact/recovery/v1:" + _normalise_code(code)).encode()).hexdigest()


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step ``code`` is valid for (current ± skew), or None. Constant-time comparisons."""
    code = _normalise_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(totp.timecode(at))
    found: int | None = None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        if hmac.compare_digest(str(totp.generate_otp(step)), code):
            found = step
    return found


class TwoFactor:
    def __init__(self, deps: AccountsDeps) -> None:
        self._d = deps

    # --- used by login and by the management calls below -------------------------------------

    def verify(self, session: Session, user: User, code: str) -> CodeKind | None:
        """Accept a TOTP code (consuming its step) or an unused recovery code (consuming it)."""
        if user.totp_secret_enc is None:
            return None
        now = self._d.clock.now()
        secret = self._d.fields.decrypt(user.totp_secret_enc, purpose=TOTP_PURPOSE, session=session)
        step = matching_step(secret, code, now)
        if step is not None:
            # Conditional update: of two concurrent requests with the same code, only one wins.
            result = session.execute(
                update(User)
                .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                return None  # replay of an already used code (or an older one)
            user.totp_last_step = step
            return "totp"
        if len(_normalise_code(code)) == 16:
            used = session.execute(
                update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user.id,
                    RecoveryCode.code_hash == _recovery_hash(code),
                    RecoveryCode.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(used, "rowcount", 0) == 1:
                return "recovery_code"
        return None

    def _issue_recovery_codes(self, session: Session, user: User) -> list[str]:
        now = self._d.clock.now()
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        for code in codes:
            session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(code), created_at=now))
        return codes

    def _user(self, session: Session, principal: Principal) -> User:
        user = session.get(User, principal.user_id)
        if user is None or not user.is_active:
            raise SessionInvalid("Not logged in.")
        return user

    def _guard(self, principal: Principal) -> None:
        wait = self._d.throttle.locked_for(account_user_key(principal.user_id))
        if wait:
            raise AccountLocked("Too many failed attempts; try again later.", wait)

    def _failed(self, principal: Principal, ctx: RequestContext) -> InvalidTotp:
        # Wrong codes count towards the account lockout, so the 10^6 code space cannot be walked.
        self._d.throttle.register_failure(account_user_key(principal.user_id), self._d.account_limit)
        with transaction(self._d.sessions) as session:
            record(
                session,
                ctx,
                self._d.clock,
                action="totp.code_rejected",
                actor=principal.actor,
                object_type="user",
                object_id=principal.user_id,
            )
        return InvalidTotp("The code is not valid.")

    # --- management (session only) ---------------------------------------------------------------

    def enroll(self, principal: Principal, ctx: RequestContext) -> Enrollment:
        """Start enrolment: a new secret, pending until :meth:`confirm` sees a code from it."""
        principal.require_session()
        with transaction(self._d.sessions) as session:
            user = self._user(session, principal)
            if user.totp_secret_enc is not None:
                raise TotpStateError("Two-factor authentication is already enabled; disable it first.")
            secret = pyotp.random_base32()  # 160 bits, as RFC 4226 §4 recommends
            user.totp_pending_secret_enc = self._d.fields.encrypt(
                secret, purpose=TOTP_PURPOSE, session=session
            )
            uri = pyotp.TOTP(secret).provisioning_uri(name=display_identifier(user), issuer_name=ISSUER)
            record(
                session,
                ctx,
                self._d.clock,
                action="totp.enrollment_started",
                actor=principal.actor,
                object_type="user",
                object_id=user.id,
            )
        return Enrollment(secret, uri)

    def confirm(self, principal: Principal, code: str, ctx: RequestContext) -> list[str]:
        """Enable TOTP after a valid code from the pending secret; returns the recovery codes (once)."""
        principal.require_session()
        self._guard(principal)
        with transaction(self._d.sessions) as session:
            user = self._user(session, principal)
            if user.totp_pending_secret_enc is None:
                raise TotpStateError("No two-factor enrolment is in progress.")
            secret = self._d.fields.decrypt(
                user.totp_pending_secret_enc, purpose=TOTP_PURPOSE, session=session
            )
            step = matching_step(secret, code, self._d.clock.now())
            if step is not None:
                user.totp_secret_enc = user.totp_pending_secret_enc
                user.totp_pending_secret_enc = None
                user.totp_enabled_at = self._d.clock.now()
                user.totp_last_step = step
                codes = self._issue_recovery_codes(session, user)
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="totp.enabled",
                    actor=principal.actor,
                    object_type="user",
                    object_id=user.id,
                )
                return codes
        raise self._failed(principal, ctx)

    def disable(self, principal: Principal, code: str, ctx: RequestContext) -> None:
        principal.require_session()
        self._guard(principal)
        with transaction(self._d.sessions) as session:
            user = self._user(session, principal)
            if user.totp_secret_enc is None:
                raise TotpStateError("Two-factor authentication is not enabled.")
            kind = self.verify(session, user, code)
            if kind is not None:
                user.totp_secret_enc = None
                user.totp_pending_secret_enc = None
                user.totp_enabled_at = None
                user.totp_last_step = None
                session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="totp.disabled",
                    actor=principal.actor,
                    object_type="user",
                    object_id=user.id,
                    details={"method": kind},
                )
                return
        raise self._failed(principal, ctx)

    def regenerate_recovery_codes(self, principal: Principal, code: str, ctx: RequestContext) -> list[str]:
        """Replace all recovery codes (the old ones stop working); needs a current code."""
        principal.require_session()
        self._guard(principal)
        with transaction(self._d.sessions) as session:
            user = self._user(session, principal)
            if user.totp_secret_enc is None:
                raise TotpStateError("Two-factor authentication is not enabled.")
            kind = self.verify(session, user, code)
            if kind is not None:
                codes = self._issue_recovery_codes(session, user)
                record(
                    session,
                    ctx,
                    self._d.clock,
                    action="totp.recovery_codes_regenerated",
                    actor=principal.actor,
                    object_type="user",
                    object_id=user.id,
                    details={"method": kind},
                )
                return codes
        raise self._failed(principal, ctx)
