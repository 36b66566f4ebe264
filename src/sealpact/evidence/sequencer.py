"""The in-process sequencer: cuts batches of up to ``batch_size`` entries or ``linger`` seconds.

Every commit that staged an entry calls :meth:`Sequencer.kick`. The thread waits for the first kick,
lets the batch fill for at most ``linger`` seconds (or until ``batch_size`` entries were staged), then
integrates batches until nothing is pending. It also polls every ``poll`` seconds, which picks up new
audit events and entries staged by other processes. Several processes may each run one: the log lock in
:meth:`~sealpact.evidence.service.EvidenceLog.integrate_batch` serialises them.
"""

from __future__ import annotations

import logging
import threading
import time

from sealpact.evidence.service import EvidenceLog, LogNotInitialised

log = logging.getLogger("sealpact.evidence")


class Sequencer:
    def __init__(self, evidence: EvidenceLog, *, linger: float = 0.25, poll: float = 1.0) -> None:
        self._log = evidence
        self._linger = linger
        self._poll = max(poll, linger)
        self._cond = threading.Condition()
        self._kicks = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            if self._thread is not None or self._stopping:
                return
            self._thread = threading.Thread(target=self._run, name="evidence-sequencer", daemon=True)
            self._thread.start()

    def kick(self) -> None:
        """One more entry was staged and committed."""
        with self._cond:
            self._kicks += 1
            self._cond.notify_all()
        self.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._kicks and not self._stopping:
                    self._cond.wait(self._poll)
                if self._stopping:
                    return
                # Linger so that a burst of appends lands in one batch (one signature, one commit).
                deadline = time.monotonic() + self._linger
                while self._kicks and self._kicks < self._log.batch_size and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                self._kicks = 0
            try:
                self._log.run_until_idle()
            except LogNotInitialised:
                # `sealpact init` normally does this; a process staging evidence before it did (tests, an
                # upgrade that skipped init) gets the same idempotent set-up rather than a stuck log.
                log.info("evidence sequencer: initialising the log")
                self._log.initialise()
            except Exception:
                log.exception("evidence sequencer: batch failed; retrying")
                with self._cond:
                    self._cond.wait(1.0)
