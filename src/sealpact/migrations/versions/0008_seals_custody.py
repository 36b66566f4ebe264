"""seals: signature and seal appearances over encrypted blobs (custody tables come in a later migration)

Revision ID: 0008_seals_custody
Revises: 0007_files
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealpact.db

revision = "0008_seals_custody"
down_revision = "0007_files"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appearances",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner_user_id", sa.String(36), nullable=True),
        sa.Column("organization_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("blob_id", sa.String(36), nullable=False),
        sa.Column("evidence_blob_id", sa.String(36), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("width_px", sa.Integer(), nullable=False),
        sa.Column("height_px", sa.Integer(), nullable=False),
        sa.Column("dpi", sa.Integer(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("text_verified", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("created_at", sealpact.db.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", sealpact.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "(owner_user_id IS NULL) <> (organization_id IS NULL)", name=op.f("ck_appearances_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_appearances_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_appearances_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_appearances_blob_id_blobs"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["evidence_blob_id"],
            ["blobs.id"],
            name=op.f("fk_appearances_evidence_blob_id_blobs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_appearances_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appearances")),
        sa.UniqueConstraint("blob_id", name=op.f("uq_appearances_blob_id")),
        sa.UniqueConstraint("evidence_blob_id", name=op.f("uq_appearances_evidence_blob_id")),
    )
    op.create_index("ix_appearances_owner_user_id", "appearances", ["owner_user_id", "created_at"])
    op.create_index("ix_appearances_organization_id", "appearances", ["organization_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_appearances_organization_id", table_name="appearances")
    op.drop_index("ix_appearances_owner_user_id", table_name="appearances")
    op.drop_table("appearances")
