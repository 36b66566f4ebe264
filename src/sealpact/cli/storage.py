"""`sealpact storage`: check the blob store, store and fetch files, verify integrity, collect garbage."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import click

from sealpact.cli.common import handle_errors, runtime_from


@click.group("storage")
def storage_group() -> None:
    """Encrypted blob storage."""


@storage_group.command("check")
@click.option("--create-bucket", is_flag=True, help="Create the S3 bucket if it does not exist.")
@click.pass_context
@handle_errors
def storage_check(ctx: click.Context, create_bucket: bool) -> None:
    """Check that the blob store is reachable and writable."""
    from sealpact.storage.s3 import S3BlobStore

    runtime = runtime_from(ctx)
    try:
        store = runtime.blobs.store
        if isinstance(store, S3BlobStore):
            if store.ensure_bucket(create=create_bucket):
                click.echo(f"created bucket {store.location.bucket}")
        else:
            runtime.blobs.check()
    finally:
        runtime.close()
    click.echo(f"storage ok: {store.description}")


@storage_group.command("put")
@click.argument("source", type=click.File("rb"))
@click.option("--content-type", default="application/octet-stream", show_default=True)
@click.pass_context
@handle_errors
def storage_put(ctx: click.Context, source: BinaryIO, content_type: str) -> None:
    """Encrypt and store SOURCE (a file, or - for stdin); prints the blob id, size and SHA-256."""
    runtime = runtime_from(ctx)
    try:
        ref = runtime.blobs.put(source, content_type=content_type)
    finally:
        runtime.close()
    click.echo(f"{ref.id} {ref.size} {ref.sha256}")


@storage_group.command("get")
@click.argument("blob_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout.")
@click.pass_context
@handle_errors
def storage_get(ctx: click.Context, blob_id: str, output: Path | None) -> None:
    """Decrypt blob BLOB_ID to a file (written only if the whole blob checks out) or stdout."""
    from sealpact.storage.localfs import atomic_write_chunks

    runtime = runtime_from(ctx)
    try:
        with runtime.blobs.open(blob_id) as reader:
            if output is None:
                reader.copy_to(sys.stdout.buffer)
            else:
                atomic_write_chunks(output, reader, mode=0o600)
    finally:
        runtime.close()


@storage_group.command("verify")
@click.argument("blob_ids", nargs=-1)
@click.pass_context
@handle_errors
def storage_verify(ctx: click.Context, blob_ids: tuple[str, ...]) -> None:
    """Read and check the given blobs, or every blob; exit 1 if any fails."""
    runtime = runtime_from(ctx)
    try:
        if blob_ids:
            for blob_id in blob_ids:
                runtime.blobs.verify(blob_id)
            click.echo(f"{len(blob_ids)} blobs ok")
            return
        report = runtime.blobs.verify_all()
    finally:
        runtime.close()
    for blob_id, code in report.failures:
        click.echo(f"FAILED {blob_id}: {code}", err=True)
    click.echo(f"{report.checked} blobs checked, {len(report.failures)} failed")
    if report.failures:
        sys.exit(1)


@storage_group.command("gc")
@click.option(
    "--older-than",
    default=86400,
    show_default=True,
    type=click.IntRange(60),
    help="Only objects at least this many seconds old.",
)
@click.option("--dry-run", is_flag=True, help="List orphaned objects without deleting them.")
@click.pass_context
@handle_errors
def storage_gc(ctx: click.Context, older_than: int, dry_run: bool) -> None:
    """Delete stored objects that no blob record refers to (left by interrupted writes)."""
    runtime = runtime_from(ctx)
    try:
        report = runtime.blobs.collect_garbage(older_than=timedelta(seconds=older_than), dry_run=dry_run)
    finally:
        runtime.close()
    for blob_id in report.orphans:
        click.echo(f"orphan {blob_id}")
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"scanned {report.scanned} objects; {verb} {len(report.orphans)}")
