"""contracts: envelopes, documents, parties, fields, templates, signing links, webhooks, SMS

Revision ID: 0010_contracts
Revises: 0009_evidence
"""

from __future__ import annotations

revision = "0010_contracts"
down_revision = "0009_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
