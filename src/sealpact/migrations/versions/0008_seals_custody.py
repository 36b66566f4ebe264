"""seals and custody: appearances, signer keys wrapped by PIN + server share

Revision ID: 0008_seals_custody
Revises: 0007_files
"""

from __future__ import annotations

revision = "0008_seals_custody"
down_revision = "0007_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
