"""Registration and heartbeats: the worker proves it is alive, extends the leases of the runs
it holds, refreshes its config snapshot, and learns which runs it lost (rescued by the leader
after its lease expired), which it then stops here.

Threading: main thread only (it reads the run table, which is thread-safe).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from queuectl import __version__, store
from queuectl.db.reconnect import Gate
from queuectl.worker.completer import Completer
from queuectl.worker.executor import Executor
from queuectl.worker.ports import Settings, Store
from queuectl.worker.runs import RunTable

__all__ = ["Heartbeat"]

log = logging.getLogger("queuectl.worker")

# A running run whose lease was lost is killed only once it has run this long: a run that
# started a moment ago may have been claimed after the heartbeat's snapshot.
_KILL_LOST_AFTER = 1.0


class Heartbeat:
    """The worker's registration, its heartbeats and its config snapshot."""

    def __init__(self, db: Store, gate: Gate, table: RunTable, completer: Completer,
                 executor: Executor, *, concurrency: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._gate = gate
        self._table = table
        self._completer = completer
        self._executor = executor
        self._concurrency = concurrency
        self._clock = clock
        self.worker_id: int | None = None
        self.settings = Settings()
        self.next_at = 0.0

    def refresh_config(self) -> None:
        """Load the config snapshot (raises `Offline`)."""
        self.settings = Settings.from_config(self._gate.call(self._db.load_config))

    def register(self) -> int:
        """Load the config and register this process (raises `Offline`); returns the id."""
        self.refresh_config()
        self.worker_id = self._register(None)
        self.next_at = self._clock() + self.settings.heartbeat_interval
        return self.worker_id

    def _register(self, worker_id: int | None) -> int:
        return self._gate.call(lambda: self._db.register_worker(
            host=socket.gethostname(), pid=os.getpid(), version=__version__,
            concurrency=self._concurrency, worker_id=worker_id))

    def due(self) -> bool:
        """True when the next heartbeat is due."""
        return self._clock() >= self.next_at

    def beat(self, *, stopping: bool) -> store.Beat:
        """Refresh config, extend leases, re-register if dropped, stop lost runs (raises
        `Offline`, the next try then waiting for the gate, or `DatabaseError`, the next
        try then due at the next interval)."""
        assert self.worker_id is not None
        worker_id = self.worker_id
        # Due again one interval after this try, also when the server refuses it.
        self.next_at = self._clock() + self.settings.heartbeat_interval
        self.refresh_config()
        known = self._table.run_ids() + self._completer.run_ids()
        running = self._table.running_ids()
        beat = self._gate.call(lambda: self._db.heartbeat(
            worker_id=worker_id, run_ids=known, lease_seconds=self.settings.lease_timeout,
            state="stopping" if stopping else "running", running=running))
        if not beat.registered:
            log.warning("worker %s: registration was dropped; registering again", os.getpid())
            self._register(worker_id)
        self._stop_lost(beat.held)
        return beat

    def _stop_lost(self, held: set[int]) -> None:
        """Runs this worker no longer holds were rescued and may run elsewhere: a queued one
        is dropped, a running one killed (its result will be fenced off)."""
        queued, running = self._table.lost(held)
        for job in queued:
            log.warning("job %s: this worker lost its lease on queued run %d; dropping it",
                        job.id, job.run_id)
        for job, ran in running:
            if ran > _KILL_LOST_AFTER:
                log.warning("job %s: this worker lost its lease on run %d; stopping it here",
                            job.id, job.run_id)
                self._executor.kill(job.run_id)

    def deregister(self) -> None:
        """Remove the registration (raises `Offline`)."""
        if self.worker_id is not None:
            worker_id = self.worker_id
            self._gate.call(lambda: self._db.deregister_worker(worker_id=worker_id))
