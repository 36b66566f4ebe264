"""Who is calling: FastAPI dependencies resolving the principal from a session cookie or a bearer token.

Cookie-authenticated requests that change state must carry the session's CSRF token in the
``X-CSRF-Token`` header (or a ``csrf_token`` form field); bearer-token requests need none, because a
browser never attaches a bearer token on its own. Requests signed with an organization API key
(``X-Sealpact-Key`` and friends, see :mod:`sealpact.apiauth.canonical`) come first and need none either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sealpact.accounts.apikeys import SignedRequest
from sealpact.accounts.auth import SessionGrant
from sealpact.accounts.errors import SessionInvalid
from sealpact.accounts.permissions import Scope
from sealpact.accounts.principal import Principal
from sealpact.apiauth import canonical
from sealpact.apiauth.errors import SignatureInvalid
from sealpact.config import Settings
from sealpact.runtime import Runtime
from sealpact.web.deps import get_runtime

CSRF_HEADER = "x-csrf-token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Declared so the OpenAPI schema shows the bearer scheme; errors are ours (auto_error=False).
_bearer_scheme = HTTPBearer(auto_error=False, description="Personal API token: `Bearer spk_...`")


def session_cookie_name(settings: Settings) -> str:
    # The __Host- prefix makes browsers insist on Secure, Path=/ and no Domain (production is HTTPS).
    return "__Host-sealpact_session" if settings.is_production else "sealpact_session"


def set_session_cookie(response: Response, grant: SessionGrant, settings: Settings) -> None:
    response.set_cookie(
        session_cookie_name(settings),
        grant.session_token,
        max_age=grant.max_age_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings), path="/", httponly=True, samesite="lax", secure=settings.is_production
    )


def session_token_of(request: Request) -> str | None:
    """The raw session cookie, if any (for the CSRF token and logout)."""
    token = request.cookies.get(session_cookie_name(get_runtime(request).settings))
    return token or None


async def _form_csrf_token(request: Request) -> str | None:
    # Only forms are parsed here, and only when the header is absent (HTML forms cannot set headers).
    if request.method in SAFE_METHODS or request.headers.get(CSRF_HEADER) is not None:
        return None
    if not request.headers.get("content-type", "").startswith(_FORM_TYPES):
        return None
    value = (await request.form()).get(CSRF_FORM_FIELD)
    return value if isinstance(value, str) else None


async def _signed_request(request: Request) -> SignedRequest | None:
    """The signing headers and raw body of a request signed with an organization API key, else None.

    The body is read here (already size-limited by the middleware); Starlette keeps it, so the route
    still reads the same bytes through ``request.body()``/``request.stream()`` afterwards.
    """
    if request.headers.get(canonical.HEADER_KEY) is None:
        return None
    try:
        body = await request.body()
    except RuntimeError as exc:  # a form body parsed before the dependencies ran
        raise SignatureInvalid("This endpoint's body cannot be signed; send it raw or as JSON.") from exc
    return SignedRequest(
        method=request.method,
        path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
        raw_query=request.scope.get("query_string", b"").decode("latin-1"),
        body=body,
        key_id=request.headers.get(canonical.HEADER_KEY),
        timestamp=request.headers.get(canonical.HEADER_TIMESTAMP),
        nonce=request.headers.get(canonical.HEADER_NONCE),
        signature=request.headers.get(canonical.HEADER_SIGNATURE),
    )


def get_principal(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    form_csrf: Annotated[str | None, Depends(_form_csrf_token)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    signed: Annotated[SignedRequest | None, Depends(_signed_request)],
) -> Principal:
    """A signed request first (``X-Sealpact-Key``), then a bearer token, else the session cookie (+ CSRF)."""
    if signed is not None:
        return runtime.api_keys.authenticate(signed)
    if request.headers.get("authorization") is not None:
        if bearer is None or not bearer.credentials.strip():
            raise SessionInvalid("Use 'Authorization: Bearer <API token>'.")
        return runtime.accounts.tokens.authenticate(bearer.credentials.strip())
    token = session_token_of(request)
    if token is None:
        raise SessionInvalid("Not logged in.")
    principal = runtime.accounts.auth.authenticate_session(token)
    if request.method not in SAFE_METHODS:
        runtime.accounts.auth.check_csrf(token, request.headers.get(CSRF_HEADER) or form_csrf)
    return principal


def require_scope(scope: Scope) -> Callable[[Principal], Principal]:
    """A dependency: the principal, provided its token (if any) holds ``scope``."""

    def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        principal.require_scope(scope)
        return principal

    return dependency


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
ReadPrincipal = Annotated[Principal, Depends(require_scope(Scope.READ))]
WritePrincipal = Annotated[Principal, Depends(require_scope(Scope.WRITE))]
AdminPrincipal = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
