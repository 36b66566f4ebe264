"""Jobs of the notify domain: sending queued email and sweeping up messages whose job was lost."""

from __future__ import annotations

from sealpact.jobs import JobContext, periodic, task
from sealpact.notify.email import SEND_TASK


@task(SEND_TASK)
def send_email(ctx: JobContext, message_id: str) -> None:
    ctx.runtime.mailer.deliver(ctx, message_id)


@periodic("notify.sweep_email", every_minutes=5)
def sweep_email(ctx: JobContext) -> None:
    ctx.runtime.mailer.sweep_stuck()
