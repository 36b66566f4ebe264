"""Who is acting, from where: passed from the web/CLI layer into services for audit and throttling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def cli(cls) -> RequestContext:
        return cls(ip=None, user_agent="sealpact-cli", request_id=None)
