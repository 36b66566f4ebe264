"""The `sealpact` command. Each domain adds its commands in its own module under sealpact.cli."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from sealpact import __version__
from sealpact.cli import ca as ca_cli
from sealpact.cli import contracts as contracts_cli
from sealpact.cli import core
from sealpact.cli import evidence as evidence_cli
from sealpact.cli import identity as identity_cli
from sealpact.cli import jobs as jobs_cli
from sealpact.cli import keys as keys_cli
from sealpact.cli import signing as signing_cli
from sealpact.cli import storage as storage_cli
from sealpact.cli import users as users_cli
from sealpact.cli import verify as verify_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sealpact")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="SEALPACT_DATA_DIR",
    help="Data directory (default ./var; env SEALPACT_DATA_DIR).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """sealpact: self-hostable electronic signatures and contracts.

    Configuration comes from SEALPACT_* environment variables (see the README).
    """
    ctx.ensure_object(dict)
    ctx.obj["data_dir"] = data_dir
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration is noise at init


cli.add_command(core.init_cmd)
cli.add_command(core.serve_cmd)
cli.add_command(core.db_group)
cli.add_command(ca_cli.ca_group)
cli.add_command(users_cli.user_group)
cli.add_command(jobs_cli.worker_cmd)
cli.add_command(jobs_cli.outbox_cmd)
cli.add_command(jobs_cli.jobs_group)
cli.add_command(identity_cli.sandbox_authority_cmd)
cli.add_command(keys_cli.keys_group)
cli.add_command(storage_cli.storage_group)
cli.add_command(evidence_cli.evidence_group)
cli.add_command(signing_cli.signing_group)
cli.add_command(verify_cli.verify_cmd)
cli.add_command(contracts_cli.demo_cmd)


def main() -> None:
    cli(obj={})
