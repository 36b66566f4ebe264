"""Shared CLI plumbing: the runtime from settings, and domain errors turned into messages + exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click

from sealpact.config import Settings, load_settings
from sealpact.errors import SealpactError
from sealpact.runtime import Runtime

P = ParamSpec("P")
R = TypeVar("R")


def settings_from(ctx: click.Context) -> Settings:
    """Settings from the environment, with ``--data-dir`` from the top-level group on top."""
    overrides: dict[str, Any] = {}
    root = ctx.find_root()
    if root.obj and root.obj.get("data_dir"):
        overrides["data_dir"] = root.obj["data_dir"]
    return load_settings(**overrides)


def runtime_from(ctx: click.Context) -> Runtime:
    return Runtime(settings_from(ctx))


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a domain error as one line on stderr and exit 1, instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SealpactError as exc:
            click.echo(f"error: {exc.message} [{exc.code}]", err=True)
            sys.exit(1)

    return wrapper
