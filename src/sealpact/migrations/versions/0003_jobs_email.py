"""notify: email outbox

Revision ID: 0003_jobs_email
Revises: 0002_accounts
"""

from __future__ import annotations

revision = "0003_jobs_email"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
