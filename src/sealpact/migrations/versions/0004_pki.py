"""pki: certificate authorities, certificates, revocation, TSA serials

Revision ID: 0004_pki
Revises: 0003_jobs_email
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sealpact.db import UTCDateTime

revision = "0004_pki"
down_revision = "0003_jobs_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pki_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("store", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("encrypted_private", sa.LargeBinary(), nullable=True),
        sa.Column("wrapped_key", sa.Text(), nullable=True),
        sa.Column("kek_id", sa.String(100), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_keys")),
    )
    op.create_index(op.f("ix_pki_keys_kek_id"), "pki_keys", ["kek_id"])
    op.create_table(
        "pki_authorities",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("pending_key_id", sa.String(36), nullable=True),
        sa.Column("crl_number", sa.BigInteger(), nullable=False),
        sa.Column("crl", sa.LargeBinary(), nullable=True),
        sa.Column("crl_this_update", UTCDateTime(), nullable=True),
        sa.Column("crl_next_update", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["pki_keys.id"], name=op.f("fk_pki_authorities_key_id_pki_keys")),
        sa.ForeignKeyConstraint(
            ["pending_key_id"], ["pki_keys.id"], name=op.f("fk_pki_authorities_pending_key_id_pki_keys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_authorities")),
        sa.UniqueConstraint("name", name=op.f("uq_pki_authorities_name")),
    )
    op.create_table(
        "pki_certificates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("issuer_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(32), nullable=True),
        sa.Column("replaces_id", sa.String(36), nullable=True),
        sa.Column("identity", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issuer_id"], ["pki_authorities.id"], name=op.f("fk_pki_certificates_issuer_id_pki_authorities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pki_certificates")),
        sa.UniqueConstraint("serial", name=op.f("uq_pki_certificates_serial")),
    )
    op.create_index("ix_pki_certificates_issuer_status", "pki_certificates", ["issuer_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_pki_certificates_issuer_status", table_name="pki_certificates")
    op.drop_table("pki_certificates")
    op.drop_table("pki_authorities")
    op.drop_index(op.f("ix_pki_keys_kek_id"), table_name="pki_keys")
    op.drop_table("pki_keys")
