"""`sealpact signing ...`: operations on signed documents (archival time-stamp renewal)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from sealpact.cli.common import handle_errors, runtime_from
from sealpact.db import ensure_migrated
from sealpact.signing.archive import DEFAULT_RENEWAL_WINDOW, refresh_lta
from sealpact.signing.engine import SigningEngine


@click.group("signing")
def signing_group() -> None:
    """PAdES documents: archival time-stamp renewal."""


@signing_group.command("refresh-lta")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: FILE).")
@click.option(
    "--within-days",
    type=click.IntRange(1, 3650),
    default=DEFAULT_RENEWAL_WINDOW.days,
    show_default=True,
    help="Renew when the newest time-stamp's TSA certificate expires within this many days.",
)
@click.option("--force", is_flag=True, help="Renew even if the newest time-stamp is far from expiry.")
@click.pass_context
@handle_errors
def refresh_lta_cmd(ctx: click.Context, file: Path, out: Path | None, within_days: int, force: bool) -> None:
    """Add validation data and a new document time-stamp to FILE (PAdES B-LTA renewal)."""
    from datetime import timedelta

    runtime = runtime_from(ctx)
    try:
        ensure_migrated(runtime.engine)
        engine = SigningEngine(runtime)
        with file.open("rb") as source:
            result = refresh_lta(engine, source, window=timedelta(days=within_days), force=force)
        if not result.renewed or result.output is None:
            click.echo(f"not renewed: {result.reason}")
            return
        target = out or file
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as sink:
            shutil.copyfileobj(result.output, sink)
        partial.replace(target)  # atomic: the original stays whole until the new file is complete
        click.echo(f"renewed ({result.reason}): wrote {target}")
    finally:
        runtime.close()
