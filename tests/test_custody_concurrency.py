"""Wrong PINs racing on one key from many connections and two processes (PostgreSQL): never past the limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from sealpact.audit.models import AuditEvent
from sealpact.custody.errors import PinInvalid, PinLocked
from sealpact.custody.models import CustodyKey
from sealpact.db import transaction
from tests.test_custody_keys import FAST_KDF, MAX, PIN, verified_user
from tests.test_identity_support import Env, identity_env

THREADS = 10


@pytest.fixture
def pg_env(pg_url: str, tmp_path: Path) -> Iterator[Env]:
    yield from identity_env(pg_url, tmp_path, **FAST_KDF)


def test_concurrent_wrong_pins_lock_after_exactly_the_limit(pg_env: Env) -> None:
    custody = pg_env.runtime.custody
    user_id = verified_user(pg_env)
    custody.create_key(user_id=user_id, pin=PIN)
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        barrier.wait()
        try:
            custody.unlock(user_id=user_id, pin=f"9{n:05d}"[::-1] if n % 2 else "808080")
            result = "unlocked"
        except PinInvalid:
            result = "invalid"
        except PinLocked:
            result = "locked"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(outcomes) == THREADS and "unlocked" not in outcomes
    assert outcomes.count("invalid") <= MAX - 1 and outcomes.count("locked") >= THREADS - MAX + 1

    with transaction(pg_env.runtime.sessions) as session:
        row = session.scalar(select(CustodyKey).where(CustodyKey.user_id == user_id))
        assert row is not None and row.failed_attempts == MAX and row.locked_at is not None
        actions = [e.action for e in session.scalars(select(AuditEvent)) if e.action.startswith("custody.")]
    # Exactly MAX PINs were tried (each one audited), the lock was recorded once.
    assert actions.count("custody.unlock.failed") == MAX
    assert actions.count("custody.key.locked") == 1
    with pytest.raises(PinLocked):
        custody.unlock(user_id=user_id, pin=PIN)


_WORKER = """
import json, sys, time
from pathlib import Path
from sealpact.custody.errors import PinInvalid, PinLocked
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.test_custody_keys import FAST_KDF

data_dir, url, user_id = sys.argv[1:4]
start, tries = float(sys.argv[4]), int(sys.argv[5])
runtime = Runtime(make_settings(Path(data_dir), database_url=url, **FAST_KDF))
out = []
time.sleep(max(0.0, start - time.time()))
for n in range(tries):
    try:
        runtime.custody.unlock(user_id=user_id, pin="80808%d" % n)
        out.append("unlocked")
    except PinInvalid:
        out.append("invalid")
    except PinLocked:
        out.append("locked")
runtime.close()
print(json.dumps(out))
"""


def test_two_processes_cannot_race_past_the_limit(pg_env: Env, pg_url: str) -> None:
    import json
    import subprocess
    import sys
    import time

    custody = pg_env.runtime.custody
    user_id = verified_user(pg_env)
    custody.create_key(user_id=user_id, pin=PIN)
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(pg_env.data_dir), pg_url, user_id, str(start), "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes: list[str] = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        outcomes += json.loads(stdout.strip().splitlines()[-1])
    assert len(outcomes) == 8 and "unlocked" not in outcomes
    assert outcomes.count("invalid") <= MAX - 1
    with transaction(pg_env.runtime.sessions) as session:
        row = session.scalar(select(CustodyKey).where(CustodyKey.user_id == user_id))
        assert row is not None and row.failed_attempts == MAX and row.locked_at is not None
        actions = [e.action for e in session.scalars(select(AuditEvent)) if e.action.startswith("custody.")]
    assert actions.count("custody.unlock.failed") == MAX and actions.count("custody.key.locked") == 1
