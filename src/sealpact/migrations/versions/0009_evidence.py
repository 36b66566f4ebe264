"""evidence: transparency log entries, tiles, checkpoints, witnesses

Revision ID: 0009_evidence
Revises: 0008_seals_custody
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sealpact.db import UTCDateTime

revision = "0009_evidence"
down_revision = "0008_seals_custody"
branch_labels = None
depends_on = None

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The log never rewrites history (RFC 9162 §1: append-only). The database refuses it too, so neither a bug
# nor a stray SQL session can change an integrated entry, a full tile or a signed checkpoint:
# - evidence_entries: INSERT only with leaf_index NULL (indexes come from the sequencer); the one allowed
#   UPDATE sets leaf_index once, changing nothing else; no DELETE.
# - evidence_tiles: no UPDATE; DELETE only of a partial tile (a wider one holds its bytes as a prefix).
# - evidence_checkpoints, evidence_anchors, evidence_records: no UPDATE, no DELETE.
_FROZEN = ("evidence_checkpoints", "evidence_anchors", "evidence_records")

_ENTRY_INSERT = "evidence_entries: leaf_index is assigned by the sequencer, not by the writer"
_ENTRY_UPDATE = "evidence_entries: an entry is indexed once and never rewritten"
_ENTRY_DELETE = "evidence_entries is append-only"
_TILE_UPDATE = "evidence_tiles: a stored tile is never rewritten"


def _sqlite_triggers() -> list[str]:
    statements = [
        f"""CREATE TRIGGER evidence_entries_no_forged_index BEFORE INSERT ON evidence_entries
            WHEN NEW.leaf_index IS NOT NULL BEGIN SELECT RAISE(ABORT, '{_ENTRY_INSERT}'); END""",
        f"""CREATE TRIGGER evidence_entries_no_rewrite BEFORE UPDATE ON evidence_entries
            WHEN OLD.leaf_index IS NOT NULL OR NEW.leaf_index IS NULL OR NEW.entry IS NOT OLD.entry
              OR NEW.leaf_hash IS NOT OLD.leaf_hash OR NEW.id IS NOT OLD.id
              OR NEW.staged_seq IS NOT OLD.staged_seq OR NEW.audit_seq IS NOT OLD.audit_seq
              OR NEW.staged_at IS NOT OLD.staged_at
            BEGIN SELECT RAISE(ABORT, '{_ENTRY_UPDATE}'); END""",
        f"""CREATE TRIGGER evidence_entries_no_delete BEFORE DELETE ON evidence_entries
            BEGIN SELECT RAISE(ABORT, '{_ENTRY_DELETE}'); END""",
        f"""CREATE TRIGGER evidence_tiles_no_update BEFORE UPDATE ON evidence_tiles
            BEGIN SELECT RAISE(ABORT, '{_TILE_UPDATE}'); END""",
        """CREATE TRIGGER evidence_tiles_no_delete BEFORE DELETE ON evidence_tiles WHEN OLD.width = 256
            BEGIN SELECT RAISE(ABORT, 'evidence_tiles: a full tile is never deleted'); END""",
    ]
    for table in _FROZEN:
        for verb in ("UPDATE", "DELETE"):
            statements.append(
                f"""CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table}
                    BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"""
            )
    return statements


def _pg_triggers() -> list[str]:
    raise_ = "RAISE EXCEPTION '%' , {msg} USING ERRCODE = 'insufficient_privilege'"
    statements = [
        f"""CREATE FUNCTION evidence_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            IF NEW.leaf_index IS NOT NULL THEN {raise_.format(msg=repr(_ENTRY_INSERT))}; END IF;
            RETURN NEW;
          ELSIF TG_OP = 'UPDATE' THEN
            IF OLD.leaf_index IS NOT NULL OR NEW.leaf_index IS NULL
               OR NEW.entry IS DISTINCT FROM OLD.entry OR NEW.leaf_hash IS DISTINCT FROM OLD.leaf_hash
               OR NEW.id IS DISTINCT FROM OLD.id OR NEW.staged_seq IS DISTINCT FROM OLD.staged_seq
               OR NEW.audit_seq IS DISTINCT FROM OLD.audit_seq OR NEW.staged_at IS DISTINCT FROM OLD.staged_at
            THEN {raise_.format(msg=repr(_ENTRY_UPDATE))}; END IF;
            RETURN NEW;
          END IF;
          {raise_.format(msg=repr(_ENTRY_DELETE))};
        END $$""",
        """CREATE TRIGGER evidence_entries_guard BEFORE INSERT OR UPDATE OR DELETE ON evidence_entries
           FOR EACH ROW EXECUTE FUNCTION evidence_entries_guard()""",
        f"""CREATE FUNCTION evidence_tiles_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'DELETE' AND OLD.width < 256 THEN RETURN OLD; END IF;
          {raise_.format(msg=repr(_TILE_UPDATE))};
        END $$""",
        """CREATE TRIGGER evidence_tiles_guard BEFORE UPDATE OR DELETE ON evidence_tiles
           FOR EACH ROW EXECUTE FUNCTION evidence_tiles_guard()""",
        """CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$""",
    ]
    for table in (*_FROZEN, "evidence_entries", "evidence_tiles"):
        if table in _FROZEN:
            statements.append(
                f"""CREATE TRIGGER {table}_no_rewrite BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION evidence_append_only()"""
            )
        statements.append(
            f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION evidence_append_only()"""
        )
    return statements


def upgrade() -> None:
    op.create_table(
        "evidence_log_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("key_name", sa.String(255), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("size", BigInt, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("audit_seq", BigInt, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_log_state")),
    )
    op.create_table(
        "evidence_entries",
        sa.Column("staged_seq", BigInt, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("leaf_index", BigInt, nullable=True),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("audit_seq", BigInt, nullable=True),
        sa.Column("staged_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("staged_seq", name=op.f("pk_evidence_entries")),
        sa.UniqueConstraint("id", name=op.f("uq_evidence_entries_id")),
        sa.UniqueConstraint("leaf_index", name=op.f("uq_evidence_entries_leaf_index")),
        sa.UniqueConstraint("audit_seq", name=op.f("uq_evidence_entries_audit_seq")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_evidence_entries_pending", "evidence_entries", ["leaf_index", "staged_seq"])
    op.create_table(
        "evidence_records",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("subject_hash", sa.String(64), nullable=False),
        sa.Column("record_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("record_enc", sa.Text(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_records")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_evidence_records_entry_id")),
    )
    op.create_index(op.f("ix_evidence_records_subject_hash"), "evidence_records", ["subject_hash"])
    op.create_table(
        "evidence_tiles",
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("tile_index", BigInt, nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "tile_index", "width", name=op.f("pk_evidence_tiles")),
    )
    op.create_table(
        "evidence_checkpoints",
        sa.Column("size", BigInt, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_evidence_checkpoints")),
    )
    op.create_table(
        "evidence_anchors",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("size", BigInt, nullable=False),
        sa.Column("note_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("gen_time", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_anchors")),
    )
    op.create_index(op.f("ix_evidence_anchors_size"), "evidence_anchors", ["size"])
    op.create_table(
        "evidence_witnessed_logs",
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("size", BigInt, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("origin", name=op.f("pk_evidence_witnessed_logs")),
    )
    dialect = op.get_bind().dialect.name
    for statement in _pg_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for function in ("evidence_entries_guard", "evidence_tiles_guard", "evidence_append_only"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}() CASCADE")
    for table in (
        "evidence_witnessed_logs",
        "evidence_anchors",
        "evidence_checkpoints",
        "evidence_tiles",
        "evidence_records",
        "evidence_entries",
        "evidence_log_state",
    ):
        op.drop_table(table)
