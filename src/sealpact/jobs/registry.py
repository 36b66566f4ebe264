"""Task definitions: a registry keyed by task name.

A task is a plain function ``func(ctx: JobContext, **kwargs) -> None``. Registering it only records
the definition; no queue and no runtime exist at import time. Each process builds its
:class:`~sealpact.jobs.queue.JobQueue` from its own :class:`~sealpact.runtime.Runtime` and binds every
registered task to it, so a task reaches the database, keys and mailer through ``ctx.runtime``.

Domains add their task modules to :data:`TASK_MODULES`; plugins (and tests) name extra modules in
``settings.jobs_task_modules``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sealpact.jobs.errors import UnknownTask

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

# Modules whose import registers tasks. Each domain appends its own `tasks` module here.
TASK_MODULES: tuple[str, ...] = (
    "sealpact.notify.tasks",
    "sealpact.pki.tasks",
    "sealpact.accounts.tasks",
    "sealpact.notify.sms",
    "sealpact.notify.webhooks",
    "sealpact.contracts.tasks",
    "sealpact.evidence.tasks",
    "sealpact.apiauth.tasks",
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class JobContext:
    """What a running task knows about itself and its process."""

    runtime: Runtime
    job_id: str  # stable across retries
    name: str
    attempt: int  # 1-based
    max_attempts: int
    next_retry_delay: float | None  # seconds before the next attempt if this one fails; None: last try

    @property
    def is_last_attempt(self) -> bool:
        return self.next_retry_delay is None


TaskFunc = Callable[..., None]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    func: TaskFunc
    retry: bool = True  # False: one attempt only (e.g. periodic sweeps; the next run retries)
    every_minutes: int | None = None  # set for periodic tasks

    @property
    def periodic(self) -> bool:
        return self.every_minutes is not None


class TaskRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, TaskSpec] = {}

    def _add(self, spec: TaskSpec) -> None:
        if not _NAME.match(spec.name):
            raise ValueError(f"task names are dotted lowercase identifiers, got {spec.name!r}")
        existing = self._specs.get(spec.name)
        if existing is not None and existing.func is not spec.func:
            raise ValueError(f"task {spec.name!r} is already registered")
        self._specs[spec.name] = spec

    def task(self, name: str, *, retry: bool = True) -> Callable[[TaskFunc], TaskFunc]:
        """Register ``func(ctx, **kwargs)`` as the task ``name`` (e.g. ``"notify.send_email"``)."""

        def decorator(func: TaskFunc) -> TaskFunc:
            self._add(TaskSpec(name=name, func=func, retry=retry))
            return func

        return decorator

    def periodic(self, name: str, *, every_minutes: int) -> Callable[[TaskFunc], TaskFunc]:
        """Register ``func(ctx)`` to run every ``every_minutes`` (1-59) minutes on the workers."""
        if not 1 <= every_minutes <= 59:
            raise ValueError("every_minutes must be between 1 and 59")

        def decorator(func: TaskFunc) -> TaskFunc:
            self._add(TaskSpec(name=name, func=func, retry=False, every_minutes=every_minutes))
            return func

        return decorator

    def get(self, name: str) -> TaskSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownTask(f"no task is registered under the name {name!r}") from None

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(list(self._specs.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._specs


REGISTRY = TaskRegistry()
task = REGISTRY.task
periodic = REGISTRY.periodic


def load_tasks(extra_modules: Iterable[str] = ()) -> TaskRegistry:
    """Import every task module (idempotent) and return the registry they filled."""
    for module in (*TASK_MODULES, *extra_modules):
        importlib.import_module(module)
    return REGISTRY


def describe_error(exc: BaseException) -> str:
    """A log- and database-safe description of a failure: its class (and domain code), never its text.

    Exception messages from drivers and servers can echo addresses, credentials or document data.
    """
    from sealpact.errors import SealpactError

    kind = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__"):
        kind = f"{module}.{kind}"
    if isinstance(exc, SealpactError):
        kind = f"{kind}[{exc.code}]"
    if exc.__cause__ is not None and exc.__cause__ is not exc:
        # The driver-level cause (ConnectionRefusedError, SMTPAuthenticationError) is what an operator needs.
        kind = f"{kind} <- {describe_error(exc.__cause__)}"
    return kind[:200]
