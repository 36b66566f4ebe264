"""/api/v1/orgs/{org_id}/api-keys: organization API keys for systems. Translation only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field

from sealpact.accounts.apikeys import DEFAULT_RATE_PER_MINUTE, MAX_RATE_PER_MINUTE, ApiKeyView
from sealpact.accounts.permissions import Scope
from sealpact.apiauth import canonical
from sealpact.context import RequestContext
from sealpact.runtime import Runtime
from sealpact.web.auth import AdminPrincipal
from sealpact.web.deps import get_context, get_runtime

router = APIRouter(prefix="/api/v1/orgs/{org_id}/api-keys", tags=["api-keys"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]

SIGNING_DESCRIPTION = f"""
Organization API keys authenticate systems with signed requests (replay-protected, no bearer secret
on the wire). Every request carries four headers:

* `{canonical.HEADER_KEY}`: the key id (`spak_...`)
* `{canonical.HEADER_TIMESTAMP}`: Unix seconds; refused when more than {canonical.WINDOW_SECONDS} s from
  the server's clock (`timestamp_out_of_window`)
* `{canonical.HEADER_NONCE}`: 16-64 characters of `[A-Za-z0-9_-]`, never reused with the key; a reuse
  within the window is refused (`nonce_reused`) by every app process
* `{canonical.HEADER_SIGNATURE}`: lower-case hex HMAC-SHA256 (key: the secret's UTF-8 bytes) of

```
{canonical.SCHEME}\\n<METHOD>\\n<path as sent>\\n<canonical query>\\n<hex SHA-256 of the raw body>\\n
<timestamp>\\n<nonce>\\n<key id>
```

(eight lines joined by a single `\\n`, no trailing newline). Canonical query: each `name=value` pair
percent-decoded, re-encoded keeping only `A-Z a-z 0-9 - _ . ~`, sorted by name then value, joined with
`&`; empty when there is no query. Each key has scopes and a per-minute rate limit (429 with
`Retry-After`). The Python client `sealpact.client.SealpactClient` does all of this.
"""


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    rate_limit_per_minute: int = Field(default=DEFAULT_RATE_PER_MINUTE, ge=1, le=MAX_RATE_PER_MINUTE)


class ApiKeyOut(BaseModel):
    id: str
    key_id: str
    organization_id: str
    name: str
    scopes: list[str]
    rate_limit_per_minute: int
    service_user_id: str = Field(description="The key's own identity (a login-less organization member)")
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, view: ApiKeyView) -> ApiKeyOut:
        return cls(**{**view.__dict__, "scopes": list(view.scopes)})


class CreatedApiKeyOut(ApiKeyOut):
    secret: str = Field(description="The signing secret; shown only now")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (owner/admin); the secret is shown once",
    description=SIGNING_DESCRIPTION,
)
def create_api_key(
    org_id: str, body: ApiKeyIn, principal: AdminPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> CreatedApiKeyOut:
    expires_at = (
        runtime.clock.now() + timedelta(days=body.expires_in_days)
        if body.expires_in_days is not None
        else None
    )
    created = runtime.api_keys.create(
        principal,
        org_id,
        body.name,
        frozenset(body.scopes),
        ctx,
        expires_at=expires_at,
        rate_limit_per_minute=body.rate_limit_per_minute,
    )
    return CreatedApiKeyOut(**ApiKeyOut.of(created.view).model_dump(), secret=created.secret)


@router.get("", summary="The organization's API keys (owner/admin)")
def list_api_keys(org_id: str, principal: AdminPrincipal, runtime: RuntimeDep) -> list[ApiKeyOut]:
    return [ApiKeyOut.of(view) for view in runtime.api_keys.list(principal, org_id)]


@router.delete("/{api_key_id}", summary="Revoke an API key (owner/admin); idempotent")
def revoke_api_key(
    org_id: str, api_key_id: str, principal: AdminPrincipal, runtime: RuntimeDep, ctx: ContextDep
) -> ApiKeyOut:
    return ApiKeyOut.of(runtime.api_keys.revoke(principal, org_id, api_key_id, ctx))
