"""The one table of a worker's in-flight runs: the only owner of per-run state.

A run enters when its job is claimed (`add`: queued), is taken by a slot thread
(`next_to_run`: running), and leaves when the main thread collects its decision (`take_done`)
or takes it back unstarted (`unqueue`, `drop`). Written results waiting for the database are
the completer's, no longer the table's.

Threading: every method may be called from any thread; all state sits behind one lock, and a
condition on that lock wakes slot threads waiting for work. `on_done` (the worker's wake-up) is
called outside the lock whenever a run finishes.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from queuectl import store
from queuectl.worker.outcomes import Decision

__all__ = ["Phase", "Run", "RunTable"]


class Phase(enum.Enum):
    """Where a run is: waiting for a slot, running in one, or finished and not yet collected."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


@dataclass
class Run:
    """One claimed job's run, as this worker holds it."""

    job: store.Claimed
    phase: Phase = Phase.QUEUED
    started: float | None = None  # monotonic, set when a slot starts it
    decision: Decision | None = None


class RunTable:
    """In-flight runs by run_id, and the queue of runs waiting for a slot."""

    def __init__(self, on_done: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._on_done = on_done
        self._clock = clock
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._runs: dict[int, Run] = {}
        self._queue: deque[int] = deque()
        self._closed = False

    def add(self, jobs: Iterable[store.Claimed]) -> None:
        """Claimed jobs join the queue, in the order given."""
        with self._lock:
            for job in jobs:
                self._runs[job.run_id] = Run(job)
                self._queue.append(job.run_id)
            self._work.notify_all()

    def next_to_run(self) -> store.Claimed | None:
        """(Slot threads.) Block until a queued run is available and mark it running; None
        once the table is closed."""
        with self._lock:
            while True:
                while self._queue:
                    run = self._runs.get(self._queue.popleft())
                    if run is not None and run.phase is Phase.QUEUED:
                        run.phase, run.started = Phase.RUNNING, self._clock()
                        return run.job
                if self._closed:
                    return None
                self._work.wait()

    def finish(self, decision: Decision) -> None:
        """(Slot threads.) Record a running run's decision."""
        with self._lock:
            run = self._runs.get(decision.run_id)
            if run is not None:
                run.phase, run.decision = Phase.DONE, decision
        self._on_done()

    def take_done(self) -> list[Decision]:
        """Remove and return the decisions of finished runs."""
        with self._lock:
            done = [r for r in self._runs.values() if r.phase is Phase.DONE]
            for run in done:
                del self._runs[run.job.run_id]
        return [r.decision for r in done if r.decision is not None]

    def unqueue(self) -> list[store.Claimed]:
        """Remove and return the runs no slot has started (the worker is stopping)."""
        with self._lock:
            queued = [r.job for r in self._runs.values() if r.phase is Phase.QUEUED]
            for job in queued:
                del self._runs[job.run_id]
            self._queue.clear()
        return queued

    def remove_queued(self, run_id: int) -> store.Claimed | None:
        """Remove a run no slot has started yet and return its job (None if it started)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.phase is not Phase.QUEUED:
                return None
            del self._runs[run_id]
            return run.job

    def running_info(self) -> list[tuple[int, str, float]]:
        """(run_id, job_id, seconds running) of the runs a slot has started."""
        now = self._clock()
        with self._lock:
            return [(i, r.job.id, now - (r.started or now)) for i, r in self._runs.items()
                    if r.phase is Phase.RUNNING]

    def lost(self, held: set[int]) -> tuple[list[store.Claimed], list[tuple[store.Claimed, float]]]:
        """Runs not in `held` (their lease was lost): queued ones are removed and returned
        first; running ones are returned with how long they have run, for the caller to
        kill (their decisions are then fenced off by the store)."""
        now = self._clock()
        with self._lock:
            lost = [r for r in self._runs.values() if r.job.run_id not in held]
            queued = [r.job for r in lost if r.phase is Phase.QUEUED]
            for job in queued:
                del self._runs[job.run_id]
            running = [(r.job, now - (r.started or now)) for r in lost
                       if r.phase is Phase.RUNNING]
        return queued, running

    def run_ids(self) -> list[int]:
        """Every run in the table (queued, running, or done and not yet collected)."""
        with self._lock:
            return list(self._runs)

    def __len__(self) -> int:
        with self._lock:
            return len(self._runs)

    def running(self) -> int:
        """How many runs a slot has started and not finished."""
        return len(self.running_ids())

    def running_ids(self) -> list[int]:
        """The runs a slot has started and not finished."""
        with self._lock:
            return [i for i, r in self._runs.items() if r.phase is Phase.RUNNING]

    def close(self) -> None:
        """Let slot threads waiting for work return None."""
        with self._lock:
            self._closed = True
            self._work.notify_all()
