"""Results on their way to the database: buffered, written fenced on run_id (only while the
worker still holds the run), and kept through database outages until they are written.

One round trip does double duty: `flush` writes the buffered results and, in the same
statement, claims the jobs the producer asked for (`store.finish_and_claim`).

One result the server refuses (a `DatabaseError`, not an outage: a trigger's error, say) must
not hold up the others: the batch is then written one result at a time, and a result refused
alone moves its job to the DLQ with the server's error (`store.abandon_run`). A transient
refusal (a deadlock) keeps the result for the next flush instead.

Threading: main thread only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from queuectl import errors, store
from queuectl.core.records import JobState
from queuectl.db.reconnect import Gate
from queuectl.worker.outcomes import Decision
from queuectl.worker.ports import Store

__all__ = ["Completer", "Summary"]

log = logging.getLogger("queuectl.worker")


@dataclass
class Summary:
    """How a worker ended: counted for `worker stop` and the log."""

    completed: int = 0
    failed: int = 0
    requeued: int = 0
    stale: int = 0
    hard_stop: bool = False
    notes: list[str] = field(default_factory=list)


class Completer:
    """Buffers decisions and writes them; counts what happened in `summary`."""

    def __init__(self, db: Store, gate: Gate, *, on_retry_due: Callable[[float], None]) -> None:
        self._db = db
        self._gate = gate
        self._on_retry_due = on_retry_due
        self._unwritten: list[store.RunResult] = []
        self._requeue: list[tuple[str, int]] = []
        self.summary = Summary()

    def add(self, decisions: Iterable[Decision]) -> None:
        """Buffer finished runs: results to write, interrupted runs to put back."""
        for d in decisions:
            if d.result is None:
                self._requeue.append((d.job_id, d.run_id))
            else:
                self._unwritten.append(d.result)

    def requeue(self, jobs: Iterable[store.Claimed]) -> None:
        """Buffer claimed runs that never started, to put back uncounted."""
        self._requeue.extend((job.id, job.run_id) for job in jobs)

    def pending(self) -> int:
        """How many results and put-backs wait to be written."""
        return len(self._unwritten) + len(self._requeue)

    def has_results(self) -> bool:
        """True when results wait to be written."""
        return bool(self._unwritten)

    def run_ids(self) -> list[int]:
        """The runs this worker still holds through unwritten results and put-backs."""
        return [r.run_id for r in self._unwritten] + [run_id for _, run_id in self._requeue]

    def put_back(self) -> None:
        """Write the put-backs (raises `Offline` and keeps them while the database is away)."""
        if not self._requeue:
            return
        runs = self._requeue
        back = self._gate.attempt("putting back interrupted runs",
                                  lambda: self._db.requeue_runs(runs=runs))
        self._requeue = []  # refused: the leader rescues them once their leases expire
        if back is None:
            return
        self.summary.requeued += len(back)
        for job_id in back:
            log.info("job %s put back to pending (worker stopping; the run is not counted)", job_id)

    def flush(self, *, claim: int, worker_id: int, lease: float,
              start_now: int | None = None) -> list[store.Claimed]:
        """Write the buffered results and claim up to `claim` jobs in one statement (the first
        `start_now` go to idle slots; the rest wait, claimed but not started); returns the
        claimed jobs (raises `Offline` and keeps the results while the database is away)."""
        results = self._unwritten
        try:
            written, jobs = self._gate.call(lambda: self._db.finish_and_claim(
                results=results, worker_id=worker_id, limit=claim, lease_seconds=lease,
                start_now=start_now))
        except errors.DatabaseError as exc:
            if not results:
                raise  # a refused claim: nothing of this worker's to isolate
            log.warning("writing %d result(s) was refused (%s); writing each alone",
                        len(results), exc)
            self._write_alone(worker_id)
            return self.flush(claim=claim, worker_id=worker_id, lease=lease,
                              start_now=start_now) if not self._unwritten else []
        self._unwritten = []
        for r in results:
            self._report(r, (r.job_id, r.run_id) in written)
        return jobs

    def _write_alone(self, worker_id: int) -> None:
        """Write the buffered results one at a time; one refused alone is abandoned, one
        refused for now (transient) stays buffered (raises `Offline`, keeping the rest)."""
        kept: list[store.RunResult] = []
        try:
            while self._unwritten:
                r = self._unwritten[0]
                try:
                    written = self._finish_one(r, worker_id)
                except errors.DatabaseError as exc:
                    if exc.transient:
                        kept.append(r)
                    else:
                        self._abandon(r, exc)
                else:
                    self._report(r, (r.job_id, r.run_id) in written)
                self._unwritten.pop(0)
        finally:
            self._unwritten = kept + self._unwritten

    def _finish_one(self, r: store.RunResult, worker_id: int) -> set[tuple[str, int]]:
        return self._gate.call(lambda: self._db.finish_and_claim(
            results=[r], worker_id=worker_id, limit=0, lease_seconds=0))[0]

    def _abandon(self, r: store.RunResult, refusal: errors.DatabaseError) -> None:
        error = f"the database refused this run's result: {refusal}"
        try:
            moved = self._gate.call(lambda: self._db.abandon_run(
                job_id=r.job_id, run_id=r.run_id, error=error))
        except errors.DatabaseError as exc:
            log.error("job %s: result of run %d refused (%s), and so was moving it to the DLQ "
                      "(%s); dropped: the leader rescues the run once its lease expires",
                      r.job_id, r.run_id, refusal, exc)
            return
        if not moved:
            self._report(r, False)
            return
        self.summary.failed += 1
        log.error("job %s dead (moved to the DLQ): %s", r.job_id, error)

    def _report(self, r: store.RunResult, written: bool) -> None:
        if not written:
            self.summary.stale += 1
            log.warning("job %s: result of run %d dropped: the run was rescued after its "
                        "lease expired and belongs to another worker now", r.job_id, r.run_id)
            return
        if r.state is JobState.COMPLETED:
            self.summary.completed += 1
            log.info("job %s completed in %.3fs", r.job_id, r.duration or 0)
            return
        self.summary.failed += 1
        if r.state is JobState.FAILED:
            self._on_retry_due(time.time() + r.retry_delay)
            log.info("job %s failed: %s; retry in %gs", r.job_id, r.error, r.retry_delay)
        else:
            log.info("job %s dead (moved to the DLQ): %s", r.job_id, r.error)
