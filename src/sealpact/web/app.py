"""The FastAPI application factory. Routers translate HTTP to service calls and nothing more."""

from __future__ import annotations

from fastapi import FastAPI

import sealpact
from sealpact.config import load_settings
from sealpact.db import ensure_migrated
from sealpact.runtime import Runtime
from sealpact.web.errors import install_error_handlers
from sealpact.web.middleware import BodyLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from sealpact.web.routes import (
    accounts,
    apikeys,
    custody,
    evidence,
    files,
    health,
    identity,
    pki,
    seals,
    tsa,
)
from sealpact.web.routes import contracts as contract_routes
from sealpact.web.routes import signing as signing_routes

# Paths that accept file uploads get the upload limit; every other body gets the small JSON limit.
UPLOAD_PREFIXES: tuple[str, ...] = ("/api/v1/files", "/api/v1/contract-documents", seals.SCAN_PATH)


def create_app(runtime: Runtime | None = None, *, check_migrations: bool = True) -> FastAPI:
    """Build the app. Refuses (``DatabaseNotMigrated``) when the database is not at the latest migration."""
    runtime = runtime or Runtime(load_settings())
    if check_migrations:
        ensure_migrated(runtime.engine)
    settings = runtime.settings
    app = FastAPI(
        title="sealpact",
        version=sealpact.__version__,
        description="Self-hostable electronic signature and electronic contract platform.",
        docs_url="/docs" if not settings.is_production else None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    install_error_handlers(app)

    app.include_router(health.router)
    app.include_router(pki.router)
    app.include_router(accounts.router)
    app.include_router(apikeys.router)
    app.include_router(files.router)
    app.include_router(tsa.router)
    app.include_router(evidence.router)
    app.include_router(identity.router)
    app.include_router(contract_routes.router)
    app.include_router(contract_routes.uploads)
    app.include_router(contract_routes.templates)
    app.include_router(contract_routes.webhooks)
    app.include_router(signing_routes.router)
    app.include_router(seals.router)
    app.include_router(custody.router)
    identity.mount_embedded_sandbox(app, runtime)

    def limit_for(path: str) -> int:
        if path.startswith(UPLOAD_PREFIXES):
            return settings.max_upload_bytes
        return settings.max_request_bytes

    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_production)
    app.add_middleware(BodyLimitMiddleware, limit_for=limit_for)
    app.add_middleware(RequestIdMiddleware)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several worker processes each build their own runtime)."""
    return create_app()
