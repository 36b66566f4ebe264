"""Run the real app with uvicorn on a free loopback port, in a background thread, for client tests.

Tests that need an outside client (OpenSSL, pyhanko-certvalidator fetching OCSP/CRLs, a browser) must
know the URL *before* the runtime is built, because certificates embed ``public_url``. So the helper
hands out a free port first (:func:`free_port`), and serves the app on it afterwards::

    port = free_port()
    settings = make_settings(tmp, public_url=f"http://127.0.0.1:{port}")
    ...
    with LiveServer(create_app(runtime), port) as server:
        httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` in a daemon thread; stopped on exit."""

    def __init__(self, app: FastAPI, port: int | None = None, *, startup_timeout: float = 15.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        # Signal handlers can only be installed from the main thread.
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.run, name=f"live-server-{self.port}", daemon=True)
        self._startup_timeout = startup_timeout

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"live server on port {self.port} failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"live server on port {self.port} did not start in time")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
