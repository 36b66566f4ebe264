"""identity: real-name verification records, attempts, micro-deposits

Revision ID: 0006_identity
Revises: 0005_tsa
"""

from __future__ import annotations

revision = "0006_identity"
down_revision = "0005_tsa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
