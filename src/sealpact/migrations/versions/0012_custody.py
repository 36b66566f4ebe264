"""custody: signer keys wrapped by Argon2id(PIN) + a keyring-wrapped server share

Revision ID: 0012_custody
Revises: 0011_org_api_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealpact.db

revision = "0012_custody"
down_revision = "0011_org_api_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("slot", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("certificate_serial", sa.String(length=40), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("chain", sa.Text(), nullable=False),
        sa.Column("kdf", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("server_share_enc", sa.Text(), nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pin_changed_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_custody_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_keys")),
        sa.UniqueConstraint("slot", name=op.f("uq_custody_keys_slot")),
    )
    op.create_index("ix_custody_keys_user_id", "custody_keys", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_custody_keys_user_id", table_name="custody_keys")
    op.drop_table("custody_keys")
