"""Reaching the real services the suite needs (PostgreSQL, Redis).

Locally an unreachable service skips the tests that need it; in CI (CI=true) it fails them, because a
green run that silently skipped PostgreSQL would prove nothing.
"""

from __future__ import annotations

import os
import socket

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_HOST = os.environ.get("SEALPACT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SEALPACT_TEST_PG_PORT", "5432"))
REDIS_URL = os.environ.get("SEALPACT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{service} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)
