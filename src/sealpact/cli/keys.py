"""`sealpact keys`: create the first KEK, show which KEKs protect what, rotate and re-wrap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sealpact.cli.common import handle_errors, runtime_from, settings_from

if TYPE_CHECKING:
    from sealpact.runtime import Runtime


@click.group("keys")
def keys_group() -> None:
    """Key-encryption keys (KEKs): status, rotation."""


@keys_group.command("init")
@click.pass_context
@handle_errors
def keys_init(ctx: click.Context) -> None:
    """Create the first KEK if there is none (PKCS#11 token, or the keyring file)."""
    from sealpact.storage.keys.factory import build_key_provider
    from sealpact.storage.keys.keyring import KeyringKeyProvider, read_master_secret

    settings = settings_from(ctx)
    if settings.key_provider.value == "keyring" and not settings.keyring_path.exists():
        secret = read_master_secret(
            settings.master_secret.get_secret_value() if settings.master_secret else None,
            settings.effective_master_secret_file,
        )
        provider = KeyringKeyProvider.create(settings.keyring_path, secret)
        click.echo(f"created keyring {settings.keyring_path} with KEK {provider.active_kek_id()}")
        return
    keys = build_key_provider(settings, create_if_missing=True)
    click.echo(f"{keys.name}: active KEK {keys.active_kek_id()}")


@keys_group.command("status")
@click.pass_context
@handle_errors
def keys_status(ctx: click.Context) -> None:
    """Show the active KEK and how many wrapped keys each KEK protects."""
    from sealpact.storage.rotation import KeyManagement

    runtime = runtime_from(ctx)
    try:
        status = KeyManagement.from_runtime(runtime).status()
    finally:
        runtime.close()
    click.echo(f"provider: {status.provider}")
    click.echo(f"active KEK: {status.active_kek_id}")
    for kek in status.keks_in_use or [status.active_kek_id]:
        marker = " (active)" if kek == status.active_kek_id else ""
        blobs, data_keys = status.blobs_by_kek.get(kek, 0), status.data_keys_by_kek.get(kek, 0)
        click.echo(f"  {kek}{marker}: {blobs} blob keys, {data_keys} data keys")
    if status.pending:
        click.echo(
            f"{status.pending} wrapped keys are not under the active KEK; "
            "finish with `sealpact keys rotate --resume`."
        )


@keys_group.command("rotate")
@click.option("--resume", is_flag=True, help="Finish an interrupted rotation: re-wrap only, no new KEK.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.pass_context
@handle_errors
def keys_rotate(ctx: click.Context, resume: bool, batch_size: int) -> None:
    """Make a new KEK active and re-wrap every blob and field data key under it (no re-encryption).

    Safe to interrupt: run it again with --resume to finish. Old KEKs stay available for unwrapping.
    """
    from sealpact.storage.rotation import KeyManagement

    runtime = runtime_from(ctx)
    try:
        report = KeyManagement.from_runtime(runtime).rotate(resume_only=resume, batch_size=batch_size)
    finally:
        runtime.close()
    if report.new_kek:
        click.echo(f"new active KEK: {report.active_kek_id} (previous: {report.previous_kek_id})")
    else:
        click.echo(f"active KEK: {report.active_kek_id}")
    click.echo(f"re-wrapped {report.blobs_rewrapped} blob keys and {report.data_keys_rewrapped} data keys")


def ensure_kek_on_init(runtime: Runtime, _admin_email: str | None, _admin_password: str | None) -> None:
    """`sealpact init` step: a PKCS#11 token gets its first KEK (the keyring file is made by init itself)."""
    from sealpact.storage.keys.factory import build_key_provider

    if runtime.settings.key_provider.value == "pkcs11":
        keys = build_key_provider(runtime.settings, create_if_missing=True)
        click.echo(f"PKCS#11 KEK ready: {keys.active_kek_id()}")
