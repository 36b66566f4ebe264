"""contracts: envelopes, documents, parties, fields, templates, signing links, webhooks, SMS

Revision ID: 0010_contracts
Revises: 0009_evidence
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sealpact.db

revision = "0010_contracts"
down_revision = "0009_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
    )
    op.create_index("ix_sms_messages_created_at", "sms_messages", ["created_at"], unique=False)
    op.create_index("ix_sms_messages_recipient", "sms_messages", ["recipient"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "scope", "key", name=op.f("uq_idempotency_keys_user_id_scope_key")),
    )
    op.create_table(
        "contract_templates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_user_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("blob_id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("page_sizes", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_contract_templates_blob_id_blobs"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contract_templates_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_contract_templates_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_templates")),
    )
    op.create_index(
        op.f("ix_contract_templates_owner_user_id"), "contract_templates", ["owner_user_id"], unique=False
    )
    op.create_table(
        "contracts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_user_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expiry_days", sa.Integer(), nullable=False),
        sa.Column("reminder_every_days", sa.Integer(), nullable=True),
        sa.Column("template_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("certificate_blob_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_blob_id"],
            ["blobs.id"],
            name=op.f("fk_contracts_certificate_blob_id_blobs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_contracts_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_contracts_owner_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
    )
    op.create_index(
        "ix_contracts_org_created", "contracts", ["organization_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_contracts_owner_created", "contracts", ["owner_user_id", "created_at", "id"], unique=False
    )
    op.create_index("ix_contracts_status_expires", "contracts", ["status", "expires_at"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_user_id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_webhook_endpoints_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_webhook_endpoints_owner_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(
        op.f("ix_webhook_endpoints_organization_id"), "webhook_endpoints", ["organization_id"], unique=False
    )
    op.create_index(
        op.f("ix_webhook_endpoints_owner_user_id"), "webhook_endpoints", ["owner_user_id"], unique=False
    )
    op.create_table(
        "contract_documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("source_type", sa.String(length=128), nullable=False),
        sa.Column("source_blob_id", sa.String(length=36), nullable=True),
        sa.Column("original_blob_id", sa.String(length=36), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_id", sa.String(length=36), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("page_sizes", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_id"], ["blobs.id"], name=op.f("fk_contract_documents_blob_id_blobs"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_documents_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["original_blob_id"],
            ["blobs.id"],
            name=op.f("fk_contract_documents_original_blob_id_blobs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_blob_id"],
            ["blobs.id"],
            name=op.f("fk_contract_documents_source_blob_id_blobs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_documents")),
        sa.UniqueConstraint(
            "contract_id", "position", name=op.f("uq_contract_documents_contract_id_position")
        ),
    )
    op.create_index(
        op.f("ix_contract_documents_contract_id"), "contract_documents", ["contract_id"], unique=False
    )
    op.create_table(
        "contract_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("occurred_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_events_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_events")),
    )
    op.create_index(
        "ix_contract_events_contract_at", "contract_events", ["contract_id", "occurred_at"], unique=False
    )
    op.create_table(
        "contract_parties",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("routing_order", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("mobile", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=True),
        sa.Column("organization_name", sa.String(length=200), nullable=True),
        sa.Column("seal_id", sa.String(length=36), nullable=True),
        sa.Column("min_level", sa.Integer(), nullable=False),
        sa.Column("auth_method", sa.String(length=16), nullable=False),
        sa.Column("intent_method", sa.String(length=16), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("activated_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("viewed_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("intent_confirmed_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acted_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=500), nullable=True),
        sa.Column("verified_level", sa.Integer(), nullable=True),
        sa.Column("verification_method", sa.String(length=32), nullable=True),
        sa.Column("certificate_serial", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_parties_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_parties")),
        sa.UniqueConstraint("contract_id", "position", name=op.f("uq_contract_parties_contract_id_position")),
    )
    op.create_index(
        op.f("ix_contract_parties_contract_id"), "contract_parties", ["contract_id"], unique=False
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_created",
        "webhook_deliveries",
        ["endpoint_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "contract_fields",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("value", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_fields_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["contract_documents.id"],
            name=op.f("fk_contract_fields_document_id_contract_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["contract_parties.id"],
            name=op.f("fk_contract_fields_party_id_contract_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_fields")),
        sa.UniqueConstraint("contract_id", "position", name=op.f("uq_contract_fields_contract_id_position")),
    )
    op.create_index(op.f("ix_contract_fields_contract_id"), "contract_fields", ["contract_id"], unique=False)
    op.create_table(
        "contract_signer_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("authenticated_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("auth_method", sa.String(length=16), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("revoked_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("totp_failures", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["contract_parties.id"],
            name=op.f("fk_contract_signer_sessions_party_id_contract_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_signer_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_contract_signer_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_contract_signer_sessions_party_id"), "contract_signer_sessions", ["party_id"], unique=False
    )
    op.create_table(
        "contract_signing_links",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("contract_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_signing_links_contract_id_contracts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["contract_parties.id"],
            name=op.f("fk_contract_signing_links_party_id_contract_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_signing_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_contract_signing_links_token_hash")),
    )
    op.create_index(
        op.f("ix_contract_signing_links_contract_id"), "contract_signing_links", ["contract_id"], unique=False
    )
    op.create_index(
        op.f("ix_contract_signing_links_party_id"), "contract_signing_links", ["party_id"], unique=False
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"], unique=False
    )
    op.create_table(
        "contract_codes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sealpact.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sealpact.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["contract_signer_sessions.id"],
            name=op.f("fk_contract_codes_session_id_contract_signer_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_codes")),
    )
    op.create_index(op.f("ix_contract_codes_session_id"), "contract_codes", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_table("contract_codes")
    op.drop_table("webhook_attempts")
    op.drop_table("contract_signing_links")
    op.drop_table("contract_signer_sessions")
    op.drop_table("contract_fields")
    op.drop_table("webhook_deliveries")
    op.drop_table("contract_parties")
    op.drop_table("contract_events")
    op.drop_table("contract_documents")
    op.drop_table("webhook_endpoints")
    op.drop_table("contracts")
    op.drop_table("contract_templates")
    op.drop_table("idempotency_keys")
    op.drop_table("sms_messages")
