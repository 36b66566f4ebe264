"""Accounts: users, organizations and roles, passwords, TOTP, sessions, API tokens, login throttling.

Entry point: :class:`sealpact.accounts.service.Accounts` (``runtime.accounts``) with ``users``,
``auth``, ``two_factor``, ``tokens`` and ``orgs``. Other domains use:

- :class:`sealpact.accounts.principal.Principal`: who is calling (from ``sealpact.web.auth``);
  ``principal.require_scope(Scope.WRITE)`` before changing anything for an API token.
- :func:`sealpact.accounts.orgs.require_org_permission` inside their own transaction, for any
  organization-scoped object: it answers 404 for non-members, ``totp_required`` when the
  organization demands TOTP, 403 when the role lacks the permission.
- :mod:`sealpact.accounts.permissions`: add permissions/roles/scopes there, never check role names.
- :class:`sealpact.accounts.throttle.ThrottleStore` (+ ``build_throttle``) for other attempt limits.
"""
