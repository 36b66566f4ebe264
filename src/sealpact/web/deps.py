"""FastAPI dependencies shared by the routers: the runtime and the request context."""

from __future__ import annotations

import ipaddress

from fastapi import Request

from sealpact.context import RequestContext
from sealpact.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_ip(request: Request, trusted_proxies: list[str]) -> str | None:
    """The peer address; X-Forwarded-For is believed only when the peer is a configured proxy."""
    peer = request.client.host if request.client else None
    if peer is None or not trusted_proxies:
        return peer
    try:
        peer_addr = ipaddress.ip_address(peer)
        trusted = any(peer_addr in ipaddress.ip_network(net, strict=False) for net in trusted_proxies)
    except ValueError:
        return peer
    forwarded = request.headers.get("x-forwarded-for")
    if trusted and forwarded:
        return forwarded.split(",")[-1].strip() or peer
    return peer


def get_context(request: Request) -> RequestContext:
    runtime = get_runtime(request)
    return RequestContext(
        ip=client_ip(request, runtime.settings.trusted_proxies),
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        request_id=getattr(request.state, "request_id", None),
    )
