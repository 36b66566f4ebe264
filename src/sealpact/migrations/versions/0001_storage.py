"""storage: blob metadata and wrapped data keys

Revision ID: 0001_storage
Revises: None
"""

from __future__ import annotations

revision = "0001_storage"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
