"""pki: time-stamp authority serial numbers

Revision ID: 0005_tsa
Revises: 0004_pki
"""

from __future__ import annotations

revision = "0005_tsa"
down_revision = "0004_pki"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
