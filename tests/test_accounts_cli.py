"""`sealpact user create` and the platform-admin step of `sealpact init`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from sealpact.accounts.models import User
from sealpact.cli.core import init_steps
from sealpact.cli.main import cli
from sealpact.cli.users import init_platform_admin
from sealpact.runtime import Runtime
from tests.conftest import MASTER_SECRET

PASSWORD = "a long enough password"


def _env(runtime: Runtime) -> dict[str, str]:
    return {
        "SEALPACT_DATA_DIR": str(runtime.settings.data_dir),
        "SEALPACT_DATABASE_URL": runtime.settings.database_url,
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
    }


def _users(runtime: Runtime) -> list[User]:
    with runtime.sessions() as db:
        return list(db.scalars(select(User).order_by(User.created_at)))


def test_user_create_with_flags_and_prompt(runtime: Runtime) -> None:
    runner = CliRunner()
    env = _env(runtime)
    result = runner.invoke(
        cli, ["user", "create", "--email", "Ops@Example.com", "--password", PASSWORD, "--admin"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "created platform administrator" in result.output
    assert "ops@example.com" not in result.output.lower()  # masked

    prompted = runner.invoke(
        cli, ["user", "create", "--mobile", "+86 13700137000"], input=f"{PASSWORD}\n{PASSWORD}\n", env=env
    )
    assert prompted.exit_code == 0, prompted.output
    mismatch = runner.invoke(
        cli,
        ["user", "create", "--mobile", "13700137001"],
        input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n",
        env=env,
    )
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output.lower()

    users = _users(runtime)
    assert [(u.email, u.mobile, u.is_platform_admin) for u in users] == [
        ("ops@example.com", None, True),
        (None, "13700137000", False),
        (None, "13700137001", False),
    ]


def test_user_create_errors(runtime: Runtime) -> None:
    runner = CliRunner()
    env = _env(runtime)
    both = runner.invoke(
        cli, ["user", "create", "--email", "a@example.com", "--mobile", "13700137000"], env=env
    )
    assert both.exit_code == 2 and "exactly one" in both.output
    neither = runner.invoke(cli, ["user", "create", "--password", PASSWORD], env=env)
    assert neither.exit_code == 2
    weak = runner.invoke(cli, ["user", "create", "--email", "a@example.com", "--password", "short"], env=env)
    assert weak.exit_code == 1 and "[weak_password]" in weak.output
    bad = runner.invoke(cli, ["user", "create", "--email", "not-mail", "--password", PASSWORD], env=env)
    assert bad.exit_code == 1 and "[invalid_identifier]" in bad.output
    ok = runner.invoke(cli, ["user", "create", "--email", "a@example.com", "--password", PASSWORD], env=env)
    assert ok.exit_code == 0
    dup = runner.invoke(cli, ["user", "create", "--email", "a@example.com", "--password", PASSWORD], env=env)
    assert dup.exit_code == 1 and "[already_registered]" in dup.output
    assert len(_users(runtime)) == 1
    help_text = runner.invoke(cli, ["user", "create", "--help"]).output
    assert "--email" in help_text and "--mobile" in help_text and "platform administrator" in help_text


def test_init_creates_platform_admin_once(runtime: Runtime) -> None:
    assert init_platform_admin in init_steps()
    runner = CliRunner()
    env = _env(runtime)
    args = ["init", "--admin-email", "root@example.com", "--admin-password", PASSWORD]
    first = runner.invoke(cli, args, env=env)
    assert first.exit_code == 0, first.output
    assert "created platform administrator" in first.output
    second = runner.invoke(cli, args, env=env)
    assert second.exit_code == 0, second.output
    assert "administrator present" in second.output
    users = _users(runtime)
    assert len(users) == 1 and users[0].is_platform_admin and users[0].email == "root@example.com"
    assert runtime.accounts.users.any_platform_admin()
    # Without --admin-email the step does nothing.
    assert runner.invoke(cli, ["init"], env=env).exit_code == 0
    assert len(_users(runtime)) == 1


def test_init_without_password_prompts(runtime: Runtime, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["init", "--admin-email", "13600136000"], input=f"{PASSWORD}\n{PASSWORD}\n", env=_env(runtime)
    )
    assert result.exit_code == 0, result.output
    assert [u.mobile for u in _users(runtime)] == ["13600136000"]
