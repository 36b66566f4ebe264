"""Background upkeep of the PKI: CRLs re-signed before nextUpdate, OCSP responder certificate renewed.

Registered with the job workers once ``sealpact.pki.tasks`` is listed in
``sealpact.jobs.registry.TASK_MODULES``; ``sealpact ca crl`` does the same from cron.
"""

from __future__ import annotations

import logging

from sealpact.jobs import JobContext, periodic

log = logging.getLogger("sealpact.pki")


@periodic("pki.maintain", every_minutes=30)
def maintain(ctx: JobContext) -> None:
    # CRLs are re-signed at half their validity (7 days by default), so a 30-minute cadence leaves a wide
    # margin before nextUpdate even when several runs fail in a row.
    done = ctx.runtime.pki.maintain()
    if done:
        log.info("pki maintenance: %s", ", ".join(done))
