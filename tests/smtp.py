"""A real SMTP server for tests: aiosmtpd on a free loopback port, collecting what it receives."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class CollectingHandler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.hold = threading.Event()  # when set, DATA waits for `release` (a slow server)
        self.release = threading.Event()
        self.reject_with: str | None = None  # e.g. "554 5.7.1 rejected": refuse every message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold.is_set():
            import asyncio

            while not self.release.is_set():
                await asyncio.sleep(0.05)
        if self.reject_with:
            return self.reject_with
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        with self._lock:
            self.received.append(received)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s), got {len(self.received)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: CollectingHandler


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """Run an SMTP server (decode_data off: the raw bytes as sent) for the duration of the block."""
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, handler)
    finally:
        handler.release.set()
        controller.stop()
