"""Deleting what can no longer be used: expired sessions, spent pending logins, stale throttle rows.

Meant for a periodic job (hourly is plenty); nothing depends on it running for correctness, because
every read already checks expiry. Audit events are never touched.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_

from sealpact.accounts.common import AccountsDeps
from sealpact.accounts.models import AuthSession, LoginThrottle, PendingLogin
from sealpact.db import transaction

# Ended sessions stay visible a while (e.g. for a "recent sessions" page) before they go.
KEEP_ENDED_SESSIONS = timedelta(days=7)


def purge_expired(deps: AccountsDeps) -> dict[str, int]:
    """Delete dead rows; returns how many of each kind went."""
    now = deps.clock.now()
    cutoff = now - KEEP_ENDED_SESSIONS
    stale = now - timedelta(
        seconds=max(deps.settings.login_window_seconds, deps.settings.login_lockout_seconds)
    )
    with transaction(deps.sessions) as session:
        sessions = session.execute(
            delete(AuthSession).where(or_(AuthSession.expires_at < cutoff, AuthSession.revoked_at < cutoff))
        )
        pending = session.execute(
            delete(PendingLogin).where(or_(PendingLogin.expires_at < now, PendingLogin.used_at.is_not(None)))
        )
        throttle = session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.window_start < stale,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now),
            )
        )
        return {
            "sessions": int(getattr(sessions, "rowcount", 0) or 0),
            "pending_logins": int(getattr(pending, "rowcount", 0) or 0),
            "login_throttle": int(getattr(throttle, "rowcount", 0) or 0),
        }
