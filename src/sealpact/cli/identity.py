"""`sealpact sandbox-authority`: run the sandbox identity authority as its own small HTTP service."""

from __future__ import annotations

from pathlib import Path

import click

from sealpact.cli.common import handle_errors, settings_from
from sealpact.identity.errors import SandboxRefused


@click.command("sandbox-authority")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--registry",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Test registry JSON (persons, subscribers, bank_cards, enterprises, accounts); default: built-in.",
)
@click.option(
    "--client",
    "clients",
    multiple=True,
    metavar="KEY_ID=SECRET",
    help="A platform allowed to call (repeatable); default: the identity_provider_key_id/secret settings.",
)
@click.pass_context
@handle_errors
def sandbox_authority_cmd(
    ctx: click.Context, host: str, port: int, registry: Path | None, clients: tuple[str, ...]
) -> None:
    """Serve the sandbox authority: test registry, face page, SMS inbox and payment transfers.

    Everything it answers says "sandbox": true. Refused with SEALPACT_ENV=production unless
    SEALPACT_IDENTITY_ALLOW_SANDBOX_IN_PRODUCTION=true.
    """
    import uvicorn

    from sealpact.identity.sandbox import SandboxAuthority, create_sandbox_app, load_registry
    from sealpact.identity.wiring import DEV_SANDBOX_SECRET, sandbox_allowed

    settings = settings_from(ctx)
    if not sandbox_allowed(settings):
        raise SandboxRefused("The sandbox authority does not run with SEALPACT_ENV=production.")
    keys: dict[str, bytes] = {}
    for item in clients:
        key_id, sep, secret = item.partition("=")
        if not sep or not key_id or len(secret) < 16:
            raise click.UsageError("--client takes KEY_ID=SECRET with a secret of 16 characters or more.")
        keys[key_id] = secret.encode()
    if not keys:
        secret_value = settings.identity_provider_secret
        keys[settings.identity_provider_key_id] = (
            secret_value.get_secret_value().encode() if secret_value is not None else DEV_SANDBOX_SECRET
        )
    authority = SandboxAuthority(clients=keys, registry=load_registry(registry) if registry else None)
    click.echo(f"sandbox authority (SANDBOX, not a real identity source) on http://{host}:{port}")
    uvicorn.run(create_sandbox_app(authority), host=host, port=port, log_level="info")
