"""seals and custody: appearances, signer keys wrapped by PIN + server share

Revision ID: 0007_files
Revises: 0007_files
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sealpact.db import UTCDateTime

revision = "0007_files"
down_revision = "0007_files"
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
