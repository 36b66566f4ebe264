"""accounts: users, organizations, sessions, API tokens, login throttling, audit events

Revision ID: 0002_accounts
Revises: 0001_storage
"""

from __future__ import annotations

revision = "0002_accounts"
down_revision = "0001_storage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
