"""Audit-trail coverage: the log covers audit_events; `sealpact evidence audit` finds edits and deletions."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sealpact.audit import Actor, record
from sealpact.cli.main import cli
from sealpact.clock import FrozenClock
from sealpact.context import RequestContext
from sealpact.db import transaction
from sealpact.evidence.audit_coverage import AuditTampered, Finding, check_audit_trail
from sealpact.evidence.entries import parse_entry
from sealpact.runtime import Runtime
from tests.conftest import MASTER_SECRET
from tests.test_evidence_log_support import T0, evidence_runtime, sql, stage

CTX = RequestContext(ip="192.0.2.10", user_agent="pytest", request_id="req-1")


def _events(runtime: Runtime, count: int) -> None:
    clock = FrozenClock(T0)
    for i in range(count):
        with transaction(runtime.sessions) as session:
            record(
                session,
                CTX,
                clock,
                action="contract.viewed",
                actor=Actor.system(),
                object_type="contract",
                object_id=f"c-{i}",
                details={"page": i},
            )


def _env(runtime: Runtime) -> dict[str, str]:
    return {
        "SEALPACT_DATA_DIR": str(runtime.settings.data_dir),
        "SEALPACT_DATABASE_URL": runtime.settings.database_url,
        "SEALPACT_MASTER_SECRET": MASTER_SECRET,
        "SEALPACT_PUBLIC_URL": runtime.settings.public_url,
        "SEALPACT_EVIDENCE_SEQUENCER": "off",
    }


def _drop_audit_triggers(runtime: Runtime) -> None:
    """What an attacker with database access (or a careless admin) can do."""
    if runtime.engine.dialect.name == "sqlite":
        sql(runtime, "DROP TRIGGER audit_events_no_update")
        sql(runtime, "DROP TRIGGER audit_events_no_delete")
    else:
        sql(runtime, "DROP TRIGGER audit_events_no_update ON audit_events")


def test_audit_events_are_covered_and_tampering_is_found(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(tmp_path / "a", database_url, evidence_sequencer="off") as rt:
        _events(rt, 5)
        stage(rt, 3, per_tx=3)
        rt.evidence.run_until_idle()
        # The sequencer picked the events up by sequence number: one hash-only entry each.
        inclusion = rt.evidence.inclusion(rt.evidence.records_for("contract-1")[0][1])
        assert inclusion.tree_size == 8
        report = check_audit_trail(rt.evidence)
        assert report.ok and report.events_checked == 5 and report.tree_size == 8
        runner = CliRunner()
        ok = runner.invoke(cli, ["evidence", "audit"], env=_env(rt))
        assert ok.exit_code == 0 and "ok: 5 audit events match the log (tree size 8)" in ok.output
        # Covered entries carry no personal data: no IP, no user agent, no object id.
        with transaction(rt.sessions) as session:
            raw = (
                session.connection()
                .exec_driver_sql(
                    "SELECT entry FROM evidence_entries WHERE audit_seq IS NOT NULL ORDER BY audit_seq"
                )
                .scalars()
                .all()
            )
        assert [parse_entry(bytes(e)).seq for e in raw] == [1, 2, 3, 4, 5]
        assert not any(b"192.0.2.10" in bytes(e) or b"c-1" in bytes(e) for e in raw)

        _drop_audit_triggers(rt)
        sql(rt, "UPDATE audit_events SET details = :d WHERE seq = 4", d='{"page":99}')
        sql(rt, "UPDATE audit_events SET ip = '198.51.100.1' WHERE seq = 2")
        report = check_audit_trail(rt.evidence)
        assert report.first == Finding(2, "was modified after it was logged")
        assert {f.seq for f in report.findings} == {2, 4}
        bad = runner.invoke(cli, ["evidence", "audit"], env=_env(rt))
        assert bad.exit_code == 1
        assert "audit event 2: was modified after it was logged (2 problem(s) in total)" in bad.output
        sql(rt, "DELETE FROM audit_events WHERE seq = 1")
        report = check_audit_trail(rt.evidence)
        assert report.first == Finding(1, "was deleted after it was logged")


def test_uncovered_event_and_tampered_entries(tmp_path: Path, database_url: str) -> None:
    with evidence_runtime(tmp_path / "a", database_url, evidence_sequencer="off") as rt:
        _events(rt, 2)
        rt.evidence.run_until_idle()
        _events(rt, 1)  # not sequenced yet
        report = check_audit_trail(rt.evidence, catch_up=False)
        assert report.first == Finding(3, "is not covered by the evidence log")
        assert check_audit_trail(rt.evidence).ok  # catching up covers it
        # Rewriting a log entry itself (triggers dropped) breaks the replay to the signed root.
        if rt.engine.dialect.name == "sqlite":
            sql(rt, "DROP TRIGGER evidence_entries_no_rewrite")
        else:
            sql(rt, "DROP TRIGGER evidence_entries_guard ON evidence_entries")
        sql(rt, "UPDATE evidence_entries SET entry = :e WHERE leaf_index = 1", e=b'{"kind":"forged"}')
        with pytest.raises(AuditTampered, match="do not match the signed checkpoint"):
            check_audit_trail(rt.evidence)


def test_periodic_job_covers_events_of_processes_that_never_append(tmp_path: Path, database_url: str) -> None:
    from sealpact.jobs.registry import JobContext, load_tasks

    with evidence_runtime(tmp_path / "a", database_url, evidence_sequencer="off") as rt:
        _events(rt, 3)
        spec = load_tasks().get("evidence.sequence")
        assert spec.periodic and spec.every_minutes == 1
        spec.func(JobContext(rt, "job-1", spec.name, 1, 1, None))
        assert rt.evidence.size() == 3 and check_audit_trail(rt.evidence, catch_up=False).ok
