"""pki: certificate authorities, certificates, revocation, TSA serials

Revision ID: 0004_pki
Revises: 0003_jobs_email
"""

from __future__ import annotations

revision = "0004_pki"
down_revision = "0003_jobs_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
