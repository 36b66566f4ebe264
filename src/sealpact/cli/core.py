"""`sealpact init`, `serve` and `db`: set up a data directory, run the service, migrate."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from sealpact.cli.common import handle_errors, runtime_from, settings_from
from sealpact.config import Settings
from sealpact.db import current_revisions, make_engine, migration_heads, upgrade
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider, generate_master_secret, read_master_secret
from sealpact.storage.localfs import atomic_write_bytes


@click.command("init")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory (default ./var).")
@click.option("--admin-email", help="Create an administrator with this email.")
@click.option("--admin-password", help="Password for --admin-email (non-interactive).")
@click.pass_context
@handle_errors
def init_cmd(
    ctx: click.Context, data_dir: Path | None, admin_email: str | None, admin_password: str | None
) -> None:
    """Create the data directory, keyring and database. Safe to run again: existing parts are kept."""
    if data_dir is not None:
        ctx.find_root().obj["data_dir"] = data_dir
    settings = settings_from(ctx)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _ensure_keyring(settings)
    runtime = runtime_from(ctx)
    try:
        upgrade(runtime.engine)
        click.echo(f"database ready: {runtime.engine.url.render_as_string(hide_password=True)}")
        for step in init_steps():
            step(runtime, admin_email, admin_password)
    finally:
        runtime.close()
    click.echo(f"sealpact initialised in {settings.data_dir}")


def _ensure_keyring(settings: Settings) -> None:
    if settings.key_provider.value != "keyring":
        return
    secret_file = settings.effective_master_secret_file
    if settings.master_secret is None and secret_file is not None and not secret_file.exists():
        if settings.is_production:
            raise click.ClickException(
                "In production the master secret must be provided (SEALPACT_MASTER_SECRET or "
                "SEALPACT_MASTER_SECRET_FILE); init does not generate one."
            )
        atomic_write_bytes(secret_file, generate_master_secret().encode() + b"\n", mode=0o600)
        click.echo(f"generated a development master secret in {secret_file} (keep it safe; back it up)")
    if settings.keyring_path.exists():
        click.echo(f"keyring present: {settings.keyring_path}")
        return
    secret = read_master_secret(
        settings.master_secret.get_secret_value() if settings.master_secret else None, secret_file
    )
    KeyringKeyProvider.create(settings.keyring_path, secret)
    click.echo(f"created keyring: {settings.keyring_path}")


InitStep = Callable[[Runtime, str | None, str | None], None]


def init_steps() -> list[InitStep]:
    """The idempotent set-up steps of ``sealpact init``, in the order they depend on each other:
    the first KEK, then the CA hierarchy, the evidence log key, and the first administrator.
    """
    from sealpact.cli.ca import init_pki
    from sealpact.cli.evidence import init_evidence
    from sealpact.cli.keys import ensure_kek_on_init
    from sealpact.cli.users import init_platform_admin

    return [ensure_kek_on_init, init_pki, init_evidence, init_platform_admin]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="HTTP worker processes.")
@click.option(
    "--with-worker/--no-worker",
    default=None,
    help="Run a job worker in this process (default: on unless redis_url is set).",
)
@click.pass_context
@handle_errors
def serve_cmd(ctx: click.Context, host: str, port: int, workers: int, with_worker: bool | None) -> None:
    """Run the web service (and, on the embedded default, an in-process job worker)."""
    import uvicorn

    from sealpact.web.app import create_app

    runtime = runtime_from(ctx)
    app = create_app(runtime)  # fails fast on an unmigrated database
    click.echo(f"sealpact listening on http://{host}:{port}  (public URL {runtime.settings.public_url})")
    from sealpact.jobs.worker import worker_while_serving

    # The embedded (SQLite) queue needs a consumer; with Redis, `sealpact worker` processes run apart.
    with worker_while_serving(runtime, with_worker):
        if workers > 1:
            uvicorn.run(
                "sealpact.web.app:create_app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
            )
        else:
            uvicorn.run(app, host=host, port=port, log_level="info")


@click.group("db")
def db_group() -> None:
    """Database schema migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
@handle_errors
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    settings = settings_from(ctx)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine, revision)
        click.echo(f"database at {', '.join(sorted(current_revisions(engine))) or 'base'}")
    finally:
        engine.dispose()


@db_group.command("current")
@click.pass_context
@handle_errors
def db_current(ctx: click.Context) -> None:
    """Show the database revision and whether it is up to date (exit 1 when it is not)."""
    settings = settings_from(ctx)
    engine = make_engine(settings.database_url)
    try:
        current, heads = current_revisions(engine), migration_heads()
    finally:
        engine.dispose()
    click.echo(f"current: {', '.join(sorted(current)) or 'base'}; latest: {', '.join(sorted(heads))}")
    if current != heads:
        click.echo("run `sealpact db upgrade`", err=True)
        sys.exit(1)
