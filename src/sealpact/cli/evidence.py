"""`sealpact evidence`: the log's verifier key, checkpoint, sequencing, audit-trail check, witness key."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from sealpact.cli.common import handle_errors, runtime_from

if TYPE_CHECKING:
    from sealpact.runtime import Runtime


@click.group("evidence")
def evidence_group() -> None:
    """The evidence transparency log (C2SP checkpoints, tiles, witnesses)."""


@evidence_group.command("vkey")
@click.pass_context
@handle_errors
def vkey_cmd(ctx: click.Context) -> None:
    """Print the log's signed-note verifier key (also served at /log/vkey)."""
    runtime = runtime_from(ctx)
    try:
        click.echo(runtime.evidence.vkey())
    finally:
        runtime.close()


@evidence_group.command("checkpoint")
@click.pass_context
@handle_errors
def checkpoint_cmd(ctx: click.Context) -> None:
    """Print the latest signed checkpoint."""
    runtime = runtime_from(ctx)
    try:
        click.echo(runtime.evidence.checkpoint().decode(), nl=False)
    finally:
        runtime.close()


@evidence_group.command("sequence")
@click.pass_context
@handle_errors
def sequence_cmd(ctx: click.Context) -> None:
    """Integrate every pending entry and uncovered audit event now, then sign a checkpoint."""
    runtime = runtime_from(ctx)
    try:
        size = runtime.evidence.run_until_idle()
        click.echo(f"log size {size}")
    finally:
        runtime.close()


@evidence_group.command("audit")
@click.pass_context
@handle_errors
def audit_cmd(ctx: click.Context) -> None:
    """Recompute every audit event and compare it with the log; exit 1 naming the first bad event."""
    from sealpact.evidence.audit_coverage import check_audit_trail

    runtime = runtime_from(ctx)
    try:
        report = check_audit_trail(runtime.evidence)
    finally:
        runtime.close()
    first = report.first
    if first is not None:
        click.echo(f"error: {first} ({len(report.findings)} problem(s) in total)", err=True)
        sys.exit(1)
    click.echo(f"ok: {report.events_checked} audit events match the log (tree size {report.tree_size})")


@evidence_group.command("witness-vkey")
@click.pass_context
@handle_errors
def witness_vkey_cmd(ctx: click.Context) -> None:
    """Print this instance's witness cosignature key (give it to logs that want our cosignatures)."""
    runtime = runtime_from(ctx)
    try:
        click.echo(runtime.evidence_witness.vkey())
    finally:
        runtime.close()


def init_evidence(runtime: Runtime, _email: str | None, _password: str | None) -> None:
    """`sealpact init` step: generate the log key (wrapped by the key provider), sign the empty tree."""
    created = runtime.evidence.initialise()
    click.echo(f"evidence log {'created' if created else 'present'}: {runtime.evidence.vkey()}")
