"""`sealpact user ...`: account administration from the command line, and the platform admin at init."""

from __future__ import annotations

import click

from sealpact.audit import mask_identifier
from sealpact.cli.common import handle_errors, runtime_from
from sealpact.context import RequestContext
from sealpact.db import ensure_migrated
from sealpact.runtime import Runtime


@click.group("user")
def user_group() -> None:
    """Manage user accounts."""


def _prompt_password() -> str:
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@user_group.command("create")
@click.option("--email", help="Email address to log in with.")
@click.option("--mobile", help="Mainland China mobile number (+86 optional) to log in with.")
@click.option("--password", help="Password (prompted for, with confirmation, when omitted).")
@click.option("--admin", is_flag=True, help="Make the account a platform administrator.")
@click.pass_context
@handle_errors
def user_create(
    ctx: click.Context, email: str | None, mobile: str | None, password: str | None, admin: bool
) -> None:
    """Create an account identified by --email or --mobile (exactly one).

    Example: sealpact user create --email ops@example.com --admin
    """
    if (email is None) == (mobile is None):
        raise click.UsageError("Give exactly one of --email or --mobile.")
    identifier = email if email is not None else mobile
    assert identifier is not None
    runtime = runtime_from(ctx)
    try:
        ensure_migrated(runtime.engine)
        view = runtime.accounts.users.register(
            identifier,
            password if password is not None else _prompt_password(),
            RequestContext.cli(),
            platform_admin=admin,
        )
    finally:
        runtime.close()
    kind = "platform administrator" if view.is_platform_admin else "user"
    click.echo(f"created {kind} {view.id} ({mask_identifier(view.email or view.mobile or '')})")


def init_platform_admin(runtime: Runtime, admin_email: str | None, admin_password: str | None) -> None:
    """``sealpact init --admin-email X [--admin-password Y]``: create the platform admin unless it exists."""
    if not admin_email:
        return
    users = runtime.accounts.users
    if users.exists(admin_email):
        click.echo(f"administrator present: {mask_identifier(admin_email)}")
        return
    password = admin_password if admin_password is not None else _prompt_password()
    view = users.ensure_platform_admin(admin_email, password, RequestContext.cli())
    if view is not None:
        click.echo(f"created platform administrator {view.id} ({mask_identifier(view.email or '')})")
