"""Jobs of the accounts domain: housekeeping of expired sessions, pending logins and throttle rows."""

from __future__ import annotations

from sealpact.jobs import JobContext, periodic


@periodic("accounts.purge_expired", every_minutes=30)
def purge_expired(ctx: JobContext) -> None:
    # Expired rows are already refused when read; purging only keeps the tables small.
    ctx.runtime.accounts.purge_expired()
