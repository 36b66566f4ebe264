"""evidence: transparency log entries, tiles, checkpoints, witnesses

Revision ID: 0009_evidence
Revises: 0008_seals_custody
"""

from __future__ import annotations

revision = "0009_evidence"
down_revision = "0008_seals_custody"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
