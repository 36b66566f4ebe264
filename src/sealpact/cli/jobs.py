"""`sealpact worker`, `sealpact outbox` and `sealpact jobs`: run background jobs, read stored email."""

from __future__ import annotations

import click

from sealpact.cli.common import handle_errors, runtime_from


@click.command("worker")
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker threads (default: settings.jobs_workers)."
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(0),
    help="On SIGTERM, wait this many seconds for running jobs (default: settings).",
)
@click.pass_context
@handle_errors
def worker_cmd(ctx: click.Context, workers: int | None, shutdown_timeout: float | None) -> None:
    """Run background jobs until SIGTERM (waits for running jobs) or SIGINT (stops at once)."""
    from sealpact.db import ensure_migrated
    from sealpact.jobs.worker import run_worker

    runtime = runtime_from(ctx)
    try:
        ensure_migrated(runtime.engine)
        run_worker(
            runtime.jobs,
            workers=workers or runtime.settings.jobs_workers,
            shutdown_timeout=shutdown_timeout,
        )
    finally:
        runtime.close()


@click.command("outbox")
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Messages to list."
)
@click.option(
    "--status",
    type=click.Choice(["queued", "sent", "failed", "outbox"]),
    help="Only messages with this status.",
)
@click.option("--show", "show_id", metavar="ID", help="Print one message in full instead of the list.")
@click.pass_context
@handle_errors
def outbox_cmd(ctx: click.Context, limit: int, status: str | None, show_id: str | None) -> None:
    """List stored email messages, newest first (or show one with --show ID)."""
    runtime = runtime_from(ctx)
    try:
        if show_id is not None:
            message = runtime.mailer.get_message(show_id)
            click.echo(f"id:         {message.id}")
            click.echo(f"status:     {message.status} (attempts {message.attempts})")
            click.echo(f"created:    {message.created_at.isoformat()}")
            if message.sent_at is not None:
                click.echo(f"sent:       {message.sent_at.isoformat()}")
            if message.last_error:
                click.echo(f"last error: {message.last_error}")
            click.echo(f"from:       {message.sender}")
            click.echo(f"to:         {', '.join(message.recipients)}")
            if message.reply_to:
                click.echo(f"reply-to:   {message.reply_to}")
            click.echo(f"subject:    {message.subject}")
            click.echo("")
            click.echo(message.text_body)
            if message.html_body is not None:
                click.echo("\n--- html ---")
                click.echo(message.html_body)
            return
        rows = runtime.mailer.list_messages(limit=limit, status=status)
        if not rows:
            click.echo("no messages")
            return
        for row in rows:
            when = row.created_at.strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"{row.id}  {when}  {row.status:<7}  {', '.join(row.recipients)}  {row.subject}")
    finally:
        runtime.close()


@click.group("jobs")
def jobs_group() -> None:
    """Inspect the background job queue."""


@jobs_group.command("status")
@click.pass_context
@handle_errors
def jobs_status(ctx: click.Context) -> None:
    """Show the queue backend, jobs waiting and scheduled retries."""
    from sealpact.jobs.worker import backend_name

    runtime = runtime_from(ctx)
    try:
        queue = runtime.jobs
        click.echo(f"backend:   {backend_name(queue)}")
        click.echo(f"pending:   {queue.pending_count()}")
        click.echo(f"scheduled: {queue.scheduled_count()}")
    finally:
        runtime.close()


@jobs_group.command("failures")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
@handle_errors
def jobs_failures(ctx: click.Context, limit: int) -> None:
    """List jobs that failed for good, newest first."""
    from sealpact.jobs.queue import recent_failures

    runtime = runtime_from(ctx)
    try:
        rows = recent_failures(runtime, limit=limit)
        if not rows:
            click.echo("no failed jobs")
        for row in rows:
            kind = "permanent" if row.permanent else f"after {row.attempts} attempts"
            when = row.failed_at.strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"{when}  {row.task_name}  {row.job_id}  {kind}  {row.error}")
    finally:
        runtime.close()
