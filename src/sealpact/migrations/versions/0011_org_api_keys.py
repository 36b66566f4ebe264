"""org api keys: organization API keys, remembered nonces, per-key rate windows

Revision ID: 0011_org_api_keys
Revises: 0010_contracts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealpact.db

revision = "0011_org_api_keys"
down_revision = "0010_contracts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("service_user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(length=255), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_org_api_keys_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["service_user_id"],
            ["users.id"],
            name=op.f("fk_org_api_keys_service_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_org_api_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_org_api_keys_key_id")),
        sa.UniqueConstraint("service_user_id", name=op.f("uq_org_api_keys_service_user_id")),
    )
    op.create_index("ix_org_api_keys_organization_id", "org_api_keys", ["organization_id"], unique=False)
    op.create_index("ix_org_api_keys_created_by", "org_api_keys", ["created_by"], unique=False)
    op.create_table(
        "api_nonces",
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_api_nonces")),
    )
    op.create_index("ix_api_nonces_expires_at", "api_nonces", ["expires_at"], unique=False)
    op.create_table(
        "api_rate_windows",
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "window_start", name=op.f("pk_api_rate_windows")),
    )


def downgrade() -> None:
    op.drop_table("api_rate_windows")
    op.drop_index("ix_api_nonces_expires_at", table_name="api_nonces")
    op.drop_table("api_nonces")
    op.drop_index("ix_org_api_keys_created_by", table_name="org_api_keys")
    op.drop_index("ix_org_api_keys_organization_id", table_name="org_api_keys")
    op.drop_table("org_api_keys")
