"""Errors of the jobs package."""

from __future__ import annotations

from sealpact.errors import ConfigurationError, InvalidInput, SealpactError


class JobError(SealpactError):
    """Root of the jobs package's errors."""

    code = "job_error"


class UnknownTask(JobError, InvalidInput):
    """Enqueueing a task name nobody registered: a programming error caught before the commit."""

    code = "unknown_task"


class InvalidJobArguments(JobError, InvalidInput):
    """Job arguments must be JSON values under plain keyword names (ids, not ORM objects)."""

    code = "invalid_job_arguments"


class QueueNotConfigured(JobError, ConfigurationError):
    code = "queue_not_configured"


class PermanentJobError(JobError):
    """Raised by a task when trying again cannot help (bad address, deleted row): no retry.

    The message must be safe to log; it is recorded as the job's final failure.
    """

    code = "permanent_job_failure"
