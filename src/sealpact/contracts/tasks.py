"""Periodic jobs of the contracts domain (idempotent; the injected clock decides what is due)."""

from __future__ import annotations

from sealpact.contracts import sweeps
from sealpact.jobs import JobContext, periodic


@periodic("contracts.expire", every_minutes=5)
def expire_contracts(ctx: JobContext) -> None:
    sweeps.expire_due(ctx.runtime)


@periodic("contracts.remind", every_minutes=15)
def remind_parties(ctx: JobContext) -> None:
    sweeps.remind_due(ctx.runtime)
