"""Accounts: users, organizations and roles, passwords, TOTP, sessions, API tokens, login throttling.

Entry point: :class:`sealpact.accounts.service.Accounts` (``runtime.accounts``).
"""
