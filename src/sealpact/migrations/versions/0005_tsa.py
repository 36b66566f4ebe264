"""pki: time-stamp authority serial numbers

Revision ID: 0005_tsa
Revises: 0004_pki
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sealpact.db import UTCDateTime

revision = "0005_tsa"
down_revision = "0004_pki"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tsa_serial_counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("next_serial", sa.BigInteger(), nullable=False),
        sa.Column("high_water_time", UTCDateTime(), nullable=True),
        sa.Column("blocks_reserved", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tsa_serial_counters")),
    )


def downgrade() -> None:
    op.drop_table("tsa_serial_counters")
