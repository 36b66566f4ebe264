"""The accounts domain wired together (``runtime.accounts``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealpact.accounts.auth import Auth
from sealpact.accounts.common import AccountsDeps
from sealpact.accounts.housekeeping import purge_expired
from sealpact.accounts.orgs import Orgs
from sealpact.accounts.passwords import Passwords
from sealpact.accounts.throttle import DatabaseThrottle, RedisThrottle, ThrottleStore
from sealpact.accounts.tokens import Tokens
from sealpact.accounts.twofactor import TwoFactor
from sealpact.accounts.users import Users

if TYPE_CHECKING:
    from sealpact.runtime import Runtime


class Accounts:
    """Facade over the accounts services; each owns its own transactions."""

    def __init__(self, deps: AccountsDeps) -> None:
        self.deps = deps
        self.users = Users(deps)
        self.two_factor = TwoFactor(deps)
        self.auth = Auth(deps, self.two_factor)
        self.tokens = Tokens(deps)
        self.orgs = Orgs(deps)

    def purge_expired(self) -> dict[str, int]:
        """Housekeeping for a periodic job: see :mod:`sealpact.accounts.housekeeping`."""
        return purge_expired(self.deps)


def build_throttle(runtime: Runtime) -> ThrottleStore:
    """Redis when configured (shared by every process and host), else the database."""
    if runtime.settings.redis_url:
        import redis

        client = redis.Redis.from_url(runtime.settings.redis_url)
        return RedisThrottle(client, runtime.clock)
    return DatabaseThrottle(runtime.sessions, runtime.clock)


def build_accounts(runtime: Runtime, *, passwords: Passwords | None = None) -> Accounts:
    deps = AccountsDeps(
        sessions=runtime.sessions,
        settings=runtime.settings,
        clock=runtime.clock,
        fields=runtime.fields,
        throttle=build_throttle(runtime),
        passwords=passwords or Passwords(),
    )
    return Accounts(deps)
