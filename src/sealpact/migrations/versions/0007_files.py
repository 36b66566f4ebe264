"""files: users' uploaded files over encrypted blobs

Revision ID: 0007_files
Revises: 0006_identity
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealpact.db

revision = "0007_files"
down_revision = "0006_identity"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner_user_id", sa.String(36), nullable=False),
        sa.Column("blob_id", sa.String(36), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=op.f("fk_files_owner_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_files_blob_id_blobs"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("blob_id", name=op.f("uq_files_blob_id")),
    )
    op.create_index(op.f("ix_files_owner_user_id"), "files", ["owner_user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_files_owner_user_id"), table_name="files")
    op.drop_table("files")
