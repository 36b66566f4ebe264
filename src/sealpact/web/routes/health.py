"""GET /healthz: liveness plus a check of each dependency (database, keys, storage)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from sealpact.runtime import Runtime
from sealpact.web.deps import get_runtime

router = APIRouter(tags=["health"])
log = logging.getLogger("sealpact.health")


@router.get("/healthz", summary="Service health with database and storage checks")
def healthz(runtime: Annotated[Runtime, Depends(get_runtime)]) -> JSONResponse:
    checks: dict[str, Any] = {}
    healthy = True
    for name, check in runtime.health_checks().items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # a health check reports every failure, whatever its type
            log.warning("health check %s failed: %s", name, type(exc).__name__)
            checks[name] = "error"
            healthy = False
    body = {"status": "ok" if healthy else "error", "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)
