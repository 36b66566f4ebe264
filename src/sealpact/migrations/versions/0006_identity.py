"""identity: real-name verification records, attempts, micro-deposits

Revision ID: 0006_identity
Revises: 0005_tsa
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sealpact.db import UTCDateTime

revision = "0006_identity"
down_revision = "0005_tsa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_profiles",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("verified_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("verification_id", sa.String(36), nullable=True),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("id_hash", sa.String(64), nullable=True),
        sa.Column("mobile_enc", sa.Text(), nullable=True),
        sa.Column("enterprise_name", sa.String(200), nullable=True),
        sa.Column("credit_code", sa.String(18), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_profiles")),
        sa.UniqueConstraint(
            "subject_type", "subject_id", name=op.f("uq_identity_profiles_subject_type_subject_id")
        ),
        sa.UniqueConstraint(
            "subject_type", "id_hash", name=op.f("uq_identity_profiles_subject_type_id_hash")
        ),
    )
    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("subject_type", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("initiated_by", sa.String(36), nullable=True),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("transactions", sa.Text(), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("id_hash", sa.String(64), nullable=True),
        sa.Column("mobile_enc", sa.Text(), nullable=True),
        sa.Column("card_enc", sa.Text(), nullable=True),
        sa.Column("enterprise_name", sa.String(200), nullable=True),
        sa.Column("credit_code", sa.String(18), nullable=True),
        sa.Column("legal_rep_name_enc", sa.Text(), nullable=True),
        sa.Column("account_enc", sa.Text(), nullable=True),
        sa.Column("bank_name", sa.String(100), nullable=True),
        sa.Column("agent_verification_id", sa.String(36), nullable=True),
        sa.Column("authorisation", sa.String(16), nullable=True),
        sa.Column("challenge_hash", sa.String(64), nullable=True),
        sa.Column("challenge_attempts", sa.Integer(), nullable=False),
        sa.Column("challenge_expires_at", UTCDateTime(), nullable=True),
        sa.Column("deposit_remark", sa.String(16), nullable=True),
        sa.Column("face_certify_id", sa.String(128), nullable=True),
        sa.Column("similarity", sa.String(16), nullable=True),
        sa.Column("liveness", sa.String(16), nullable=True),
        sa.Column("failure_reason", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verifications")),
        sa.UniqueConstraint("face_certify_id", name=op.f("uq_identity_verifications_face_certify_id")),
    )
    op.create_index(
        "ix_identity_verifications_subject", "identity_verifications", ["subject_type", "subject_id"]
    )
    op.create_table(
        "identity_nonces",
        sa.Column("nonce", sa.String(160), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_identity_nonces")),
    )
    op.create_index(op.f("ix_identity_nonces_expires_at"), "identity_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_identity_nonces_expires_at"), table_name="identity_nonces")
    op.drop_table("identity_nonces")
    op.drop_index("ix_identity_verifications_subject", table_name="identity_verifications")
    op.drop_table("identity_verifications")
    op.drop_table("identity_profiles")
