"""Jobs of signed API access: housekeeping of remembered nonces and ended rate-limit windows."""

from __future__ import annotations

from sealpact.jobs import JobContext, periodic


@periodic("apikeys.purge_expired", every_minutes=15)
def purge_expired(ctx: JobContext) -> None:
    # Expired nonces are ignored when checked; purging only keeps the tables small (Redis expires its own).
    ctx.runtime.api_keys.purge_expired()
