"""notify: email outbox; jobs: final job failures

Revision ID: 0003_jobs_email
Revises: 0002_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sealpact.db import UTCDateTime

revision = "0003_jobs_email"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.String(320), nullable=True),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("tag", sa.String(64), nullable=True),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
    )
    op.create_index("ix_email_messages_created_at", "email_messages", ["created_at"])
    op.create_index(
        "ix_email_messages_status_next_attempt_at", "email_messages", ["status", "next_attempt_at"]
    )
    op.create_table(
        "job_failures",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("task_name", sa.String(100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(200), nullable=False),
        sa.Column("permanent", sa.Boolean(), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_failures")),
    )
    op.create_index("ix_job_failures_failed_at", "job_failures", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_job_failures_failed_at", table_name="job_failures")
    op.drop_table("job_failures")
    op.drop_index("ix_email_messages_status_next_attempt_at", table_name="email_messages")
    op.drop_index("ix_email_messages_created_at", table_name="email_messages")
    op.drop_table("email_messages")
