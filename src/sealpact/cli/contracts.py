"""``sealpact demo``: a complete contract on the embedded default (see :mod:`sealpact.contracts.demo`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from sealpact.cli.common import handle_errors
from sealpact.config import load_settings
from sealpact.db import upgrade
from sealpact.runtime import Runtime


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("sealpact-demo"),
    show_default=True,
    help="Where to write contract-signed.pdf, certificate-of-completion.pdf and root.pem.",
)
@handle_errors
def demo_cmd(out: Path) -> None:
    """Run one complete contract (an enterprise and an individual) in a throw-away data directory."""
    import logging

    from sealpact.contracts.demo import free_port, run_demo

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    from sealpact.storage.keys.keyring import KeyringKeyProvider

    with tempfile.TemporaryDirectory(prefix="sealpact-demo-") as tmp:
        data_dir = Path(tmp)
        secret = "demo-" + __import__("secrets").token_urlsafe(32)
        settings = load_settings(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'sealpact.db'}",
            storage_url=f"file://{data_dir / 'blobs'}",
            master_secret=secret,
            public_url=f"http://127.0.0.1:{free_port()}",
            env="development",
            jobs_immediate=True,
            email_mode="outbox",
            sms_mode="outbox",
            identity_provider="sandbox",
            identity_provider_url=None,
            redis_url=None,
        )
        KeyringKeyProvider.create(settings.keyring_path, secret.encode())
        runtime = Runtime(settings)
        try:
            upgrade(runtime.engine)
            result = run_demo(runtime, out)
        finally:
            runtime.close()
    click.echo(
        f"contract {result.contract_id}: {result.status}, {result.signatures} signatures (PAdES B-LTA)"
    )
    click.echo(f"  signed contract:            {result.signed_pdf}")
    click.echo(f"  certificate of completion:  {result.certificate_pdf}")
    click.echo(f"  platform root certificate:  {result.root_pem}")
    click.echo("  (sandbox identities and demo keys: for trying sealpact out, not for real contracts)")
