"""Background sequencing: a periodic job integrates whatever is pending, so audit events written by a
process that never appends evidence itself (and so never wakes an in-process sequencer) are covered
within a minute. ``sealpact evidence sequence`` does the same from cron or by hand."""

from __future__ import annotations

import logging

from sealpact.jobs import JobContext, periodic

log = logging.getLogger("sealpact.evidence")


@periodic("evidence.sequence", every_minutes=1)
def sequence(ctx: JobContext) -> None:
    from sealpact.evidence.service import LogNotInitialised

    try:
        size = ctx.runtime.evidence.run_until_idle()
    except LogNotInitialised:
        log.debug("evidence log not initialised (sealpact init); nothing to sequence")
        return
    log.debug("evidence log at size %d", size)
