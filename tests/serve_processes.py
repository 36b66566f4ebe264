"""Real `sealpact serve` processes for tests that prove nothing lives in one process.

``base_env`` is the environment for a deployment in a temp data dir on the given database;
``init_deployment`` runs `sealpact init` there; ``running_servers`` starts N servers on free loopback
ports, waits for /healthz and stops them (SIGTERM, then kill) afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import MASTER_SECRET
from tests.live_server import free_port

SEALPACT = str(Path(sys.executable).parent / "sealpact")


def base_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALPACT_")}
    env.update(
        {
            "SEALPACT_DATA_DIR": str(data_dir),
            "SEALPACT_DATABASE_URL": database_url,
            "SEALPACT_MASTER_SECRET": MASTER_SECRET,
            "SEALPACT_PUBLIC_URL": "http://127.0.0.1:1",
        }
    )
    return env


def init_deployment(env: dict[str, str]) -> None:
    subprocess.run([SEALPACT, "init"], env=env, check=True, capture_output=True, timeout=300)


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [SEALPACT, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    process.wait(timeout=10)
    raise RuntimeError(f"serve did not become healthy:\n{log.read_text()[-3000:]}")


@contextmanager
def running_servers(env: dict[str, str], log_dir: Path, count: int = 2) -> Iterator[list[str]]:
    """``count`` servers sharing ``env``; yields their base URLs."""
    processes: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for number in range(count):
            process, base = _start(env, log_dir / f"serve-{number}.log")
            processes.append(process)
            bases.append(base)
        yield bases
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
