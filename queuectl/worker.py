"""The worker process: fetch → execute → finish, with heartbeats, rescue and shutdown.

One main thread owns every database call (through `queuectl.store`); up to `concurrency`
runner threads execute commands (through `queuectl.runner`) and hand outcomes back over a
queue, waking the main thread through a pipe. An idle worker waits on that pipe and on a
LISTEN connection, so a new job starts within milliseconds; `poll_interval` is the safety net.

Database connections per worker process: one for claims/completions/heartbeats, plus one for
LISTEN (none with `listen=False`), whatever the concurrency.

Shutdown: the first SIGTERM/SIGINT stops claiming and lets running jobs finish; a second
signal, or the `grace` period running out, kills the running process groups and puts those
jobs back to pending without counting the attempt.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import __version__, backoff, db, errors, store
from queuectl.models import JobState
from queuectl.runner import Outcome, Runner

__all__ = ["Summary", "Worker"]

log = logging.getLogger("queuectl.worker")

_MAX_DB_BACKOFF = 5.0
_PRUNE_EVERY = 3600.0
_PREFETCH_BELOW = 0.05  # seconds: prefetch only while runs are this short on average


@dataclass
class Summary:
    """How a worker ended: counted for `worker stop` and the log."""

    completed: int = 0
    failed: int = 0
    requeued: int = 0
    stale: int = 0
    hard_stop: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class _Run:
    job: store.Claimed
    started: float


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


class Worker:
    """One worker process: claims jobs, runs them on `concurrency` threads, records results."""

    def __init__(
        self, engine: sa.Engine, *, concurrency: int = 1, listen: bool = True,
        grace: float | None = None, install_signals: bool = True,
    ) -> None:
        self.engine = engine
        self.concurrency = concurrency
        self.listen = listen
        self.grace = grace
        self.install_signals = install_signals
        self.runner = Runner()
        self.summary = Summary()
        self.worker_id: int | None = None
        #: Called once the worker is registered and about to claim (daemon pid files).
        self.on_ready: Callable[[], None] | None = None
        # Claimed jobs wait here; `concurrency` slot threads take them one by one, so a slot
        # whose job ends starts the next buffered job without waiting for the main thread.
        self._queue: queue.SimpleQueue[store.Claimed | None] = queue.SimpleQueue()
        self._slots = [threading.Thread(target=self._slot, name=f"slot-{i}", daemon=True)
                       for i in range(concurrency)]
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}  # run_id -> monotonic start, set by the slots
        self._cancelled: set[int] = set()  # queued runs the slots must skip
        self._done: queue.SimpleQueue[tuple[_Run, Outcome]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        # Claimed and not yet collected: queued or running. Only the main thread changes it.
        self._inflight: dict[int, store.Claimed] = {}
        self._avg_run: float | None = None  # moving average of run durations, seconds
        self._unwritten: list[store.RunResult] = []
        self._requeue: list[tuple[str, int]] = []
        self._listen_conn: psycopg.Connection | None = None
        self._config: dict[str, Any] = {}
        self._policy = backoff.Policy()
        self._stop_at: float | None = None
        self._hard = False
        self._next_heartbeat = 0.0
        self._next_prune = time.monotonic() + 60.0  # not while a fleet is starting up
        self._next_due: float | None = None
        self._db_down_since: float | None = None
        self._db_retry_at = 0.0
        self._db_delay = 0.2

    # --- lifecycle ---------------------------------------------------------------------------

    def request_stop(self, *, hard: bool = False) -> None:
        """Stop claiming (first call) or kill running jobs (second call, or `hard`)."""
        if self._stop_at is not None or hard:
            self._hard = True
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        self._wake()

    def _on_signal(self, signum: int, _frame) -> None:
        first = self._stop_at is None
        self.request_stop()
        if first:
            log.info("worker %s: %s received; finishing %d running job(s), no new claims "
                     "(signal again to kill them)", os.getpid(),
                     signal.Signals(signum).name, len(self._inflight))
        else:
            log.info("worker %s: second signal; killing running jobs", os.getpid())

    def run(self) -> Summary:
        """Run until stopped; returns how the worker ended."""
        if self.install_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        self._start()
        for slot in self._slots:
            slot.start()
        try:
            while self._step():
                pass
        finally:
            self._unqueue()  # only after a crash can jobs still be queued here
            for _ in self._slots:
                self._queue.put(None)
            for slot in self._slots:
                slot.join()
            self.runner.close()
            self._close_listen()
            self._deregister()
        return self.summary

    def _start(self) -> None:
        while self.worker_id is None and self._stop_at is None:
            if self._call(self._refresh_config) is not None:
                self.worker_id = self._call(lambda: store.register_worker(
                    self.engine, host=socket.gethostname(), pid=os.getpid(),
                    version=__version__, concurrency=self.concurrency))
            if self.worker_id is None:
                self._sleep_until(self._db_retry_at)
        if self.worker_id is not None:
            log.info("worker %s started (id %s, host %s, concurrency %d)", os.getpid(),
                     self.worker_id, socket.gethostname(), self.concurrency)
            self._next_heartbeat = time.monotonic() + self._config["heartbeat_interval"]
            if self.on_ready is not None:
                self.on_ready()

    def _deregister(self) -> None:
        if self.worker_id is not None and not self._inflight:
            self._call(lambda: store.deregister_worker(self.engine, worker_id=self.worker_id))

    def _step(self) -> bool:
        """One turn of the loop; False when the worker should exit."""
        self._collect()
        stopping = self._stop_at is not None
        if stopping:
            self._enforce_grace()
            self._unqueue()
            if not (self._inflight or self._unwritten or self._requeue):
                return False
        if self.worker_id is None:
            return False
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._beat()
        free = self.concurrency - len(self._inflight)
        # The capacity can shrink below what is already claimed when runs get longer.
        want = 0 if stopping else max(0, self._capacity() - len(self._inflight))
        claimed = 0
        if now >= self._db_retry_at:
            if self._requeue:
                self._put_back()
            if self._unwritten or want > 0:
                claimed = self._finish_and_claim(want)
                if want > 0 and claimed == want:
                    return True  # got all we asked for: loop to refill at once
        if stopping and not self._inflight and (self._unwritten or self._requeue):
            return self._db_alive_or_waiting()
        self._wait(self._timeout(claimed, free))
        return True

    def _enforce_grace(self) -> None:
        assert self._stop_at is not None
        if self.grace is not None and not self._hard:
            if time.monotonic() - self._stop_at >= self.grace:
                log.info("worker %s: grace of %.1fs is over; killing running jobs",
                         os.getpid(), self.grace)
                self._hard = True
        if self._hard and self._inflight:
            self.summary.hard_stop = True
            self.runner.kill_all()

    def _db_alive_or_waiting(self) -> bool:
        """While stopping with results unwritten, keep trying unless told to stop hard."""
        if self._hard and self._db_down_since is not None:
            log.error("worker %s: exiting with %d result(s) unwritten: the database is away",
                      os.getpid(), len(self._unwritten) + len(self._requeue))
            return False
        self._sleep_until(self._db_retry_at)
        return True

    # --- claiming and running ----------------------------------------------------------------

    def _capacity(self) -> int:
        """How many jobs to hold claimed: one per slot, and while recent runs are short (under
        `_PREFETCH_BELOW` on average) one more per slot, so a slot whose job ends starts the
        next at once while the round trip that records the result and refills the buffer
        overlaps the run. A prefetched job waits about one short run at most, and long jobs
        are never held back behind each other. Not more: a worker killed with SIGKILL loses
        its buffered jobs too, and their rescue counts an attempt like a running job's."""
        if self._avg_run is not None and self._avg_run < _PREFETCH_BELOW:
            return 2 * self.concurrency
        return self.concurrency

    def _unqueue(self) -> None:
        """Take back claimed jobs no slot has started (stopping): they go back to pending."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is None:
                continue
            with self._lock:
                if job.run_id in self._cancelled:
                    self._cancelled.discard(job.run_id)
                    continue
            self._inflight.pop(job.run_id, None)
            self._requeue.append((job.id, job.run_id))

    def _finish_and_claim(self, limit: int) -> int:
        """Write finished runs and claim up to `limit` jobs in one round trip; claimed jobs
        start in free slots, the rest wait in the prefetch buffer; returns how many were
        claimed."""
        results = self._unwritten
        answer = self._call(lambda: store.finish_and_claim(
            self.engine, results=results, worker_id=self.worker_id, limit=limit,
            lease_seconds=self._config["lease_timeout"]))
        if answer is None:
            return 0
        written, jobs = answer
        self._unwritten = []
        for r in results:
            self._report(r, (r.job_id, r.run_id) in written)
        if not jobs:
            return 0
        if self._next_due is not None and self._next_due <= time.time():
            self._next_due = None
        for job in jobs:
            self._inflight[job.run_id] = job
            self._queue.put(job)
        return len(jobs)

    def _slot(self) -> None:
        """A slot thread: run queued jobs one after another until told to stop (None)."""
        while (job := self._queue.get()) is not None:
            with self._lock:
                if job.run_id in self._cancelled:
                    self._cancelled.discard(job.run_id)
                    continue
                self._started[job.run_id] = started = time.monotonic()
            timeout_ms = job.timeout_ms or self._config["job_timeout"]
            log.info("job %s started (attempt %d/%d): %s", job.id, job.attempts,
                     job.max_retries + 1, _short(job.command))
            try:
                outcome = self.runner.run(job.command, key=job.run_id,
                                          timeout=timeout_ms / 1000 if timeout_ms else None)
            except Exception as exc:  # the runner must never take the worker down with it
                outcome = Outcome(False, None, f"worker error while running the job: {exc!r}",
                                  "", False, time.monotonic() - started)
            self._done.put((_Run(job, started), outcome))
            self._wake()

    def _collect(self) -> None:
        while True:
            try:
                run, outcome = self._done.get_nowait()
            except queue.Empty:
                return
            self._inflight.pop(run.job.run_id, None)
            with self._lock:
                self._started.pop(run.job.run_id, None)
            self._avg_run = outcome.duration if self._avg_run is None else (
                0.8 * self._avg_run + 0.2 * outcome.duration)
            if outcome.interrupted:
                self._requeue.append((run.job.id, run.job.run_id))
                continue
            self._unwritten.append(self._result(run.job, outcome))

    def _result(self, job: store.Claimed, outcome: Outcome) -> store.RunResult:
        if outcome.ok:
            state, delay = JobState.COMPLETED, 0.0
        else:
            state, delay = backoff.after_failure(
                self._policy, attempts=job.attempts, max_retries=job.max_retries)
        return store.RunResult(
            job_id=job.id, run_id=job.run_id, state=state, exit_code=outcome.exit_code,
            error=outcome.error, output=outcome.output, output_truncated=outcome.truncated,
            duration=outcome.duration, retry_delay=delay,
        )

    def _put_back(self) -> None:
        requeue = self._requeue
        back = self._call(lambda: store.requeue_runs(self.engine, runs=requeue))
        if back is None:
            return
        self._requeue = []
        self.summary.requeued += len(back)
        for job_id in back:
            log.info("job %s put back to pending (worker stopping; attempt not counted)", job_id)

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
            due = time.time() + r.retry_delay
            self._next_due = due if self._next_due is None else min(self._next_due, due)
            log.info("job %s failed: %s; retry in %gs", r.job_id, r.error, r.retry_delay)
        else:
            log.info("job %s dead (moved to the DLQ): %s", r.job_id, r.error)

    # --- heartbeats, config, rescue ----------------------------------------------------------

    def _refresh_config(self) -> None:
        self._config = store.load_config(self.engine)
        self._policy = backoff.Policy(float(self._config["backoff_base"]),
                                      float(self._config["backoff_max"]))

    def _beat(self) -> None:
        assert self.worker_id is not None

        def beat() -> None:
            assert self.worker_id is not None
            self._refresh_config()
            state = "stopping" if self._stop_at is not None else "running"
            known = [*self._inflight, *(r.run_id for r in self._unwritten),
                     *(run_id for _, run_id in self._requeue)]
            registered, held = store.heartbeat(
                self.engine, worker_id=self.worker_id, run_ids=known,
                lease_seconds=self._config["lease_timeout"], state=state)
            if not registered:
                log.warning("worker %s: registration was dropped; registering again",
                            os.getpid())
                store.register_worker(self.engine, host=socket.gethostname(), pid=os.getpid(),
                                      version=__version__, concurrency=self.concurrency,
                                      worker_id=self.worker_id)
            self._drop_lost_runs(held)
            self._maybe_prune()
            rescued = store.rescue_expired(
                self.engine, policy=self._policy,
                stale_after=max(self._config["lease_timeout"] * 2, 60.0))
            for job_id in rescued:
                log.warning("job %s rescued: its worker stopped heartbeating", job_id)

        if self._call(beat) is not None or self._db_down_since is None:
            self._next_heartbeat = time.monotonic() + self._config["heartbeat_interval"]

    def _maybe_prune(self) -> None:
        """Once an hour, one worker of the fleet (advisory lock) applies `retention`."""
        retention = self._config["retention"]
        if retention is None or time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + _PRUNE_EVERY
        pruned = store.prune(self.engine, older_than=retention, wait=False)
        if pruned and any(pruned):
            log.info("pruned %d finished job(s) and %d metric row(s) older than %gs",
                     pruned[0], pruned[1], retention)

    def _drop_lost_runs(self, held: set[int]) -> None:
        """Runs this worker no longer holds were rescued and may run elsewhere: stop ours (a
        queued one is skipped, a running one killed; its result will be fenced off)."""
        now = time.monotonic()
        for run_id, job in list(self._inflight.items()):
            if run_id in held:
                continue
            with self._lock:
                started = self._started.get(run_id)
                if started is None:
                    self._cancelled.add(run_id)
            if started is None:
                del self._inflight[run_id]
                log.warning("job %s: this worker lost its lease on queued run %d; dropping it",
                            job.id, run_id)
            elif now - started > 1.0:
                log.warning("job %s: this worker lost its lease on run %d; stopping it here",
                            job.id, run_id)
                self.runner.kill(run_id)

    # --- waiting --------------------------------------------------------------------------------

    def _timeout(self, claimed: int, free: int) -> float:
        now_m = time.monotonic()
        timeout = max(0.0, self._next_heartbeat - now_m)
        if self._stop_at is not None and self.grace is not None and not self._hard:
            timeout = min(timeout, max(0.0, self._stop_at + self.grace - now_m))
        if self._db_down_since is not None:
            return min(timeout, max(0.0, self._db_retry_at - now_m))
        if free <= 0 or claimed or self._stop_at is not None:
            return timeout  # busy or stopping: a completion will wake us
        timeout = min(timeout, self._config["poll_interval"])
        if self._next_due is not None:
            timeout = min(timeout, max(0.0, self._next_due - time.time()))
        return timeout

    def _wait(self, timeout: float) -> None:
        fds = [self._wake_r]
        listen = self._listen_fd()
        if listen is not None:
            fds.append(listen)
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            return
        if self._wake_r in ready:
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        if listen is not None and listen in ready:
            self._drain_notifications()

    def _sleep_until(self, deadline: float) -> None:
        self._wait(max(0.0, deadline - time.monotonic()))

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # the pipe is full: the main thread is awake anyway

    def _listen_fd(self) -> int | None:
        if not self.listen or self._db_down_since is not None:
            return None
        if self._listen_conn is None or self._listen_conn.closed:
            try:
                self._listen_conn = store.open_listener(self.engine)
            except psycopg.Error:
                return None
        return self._listen_conn.fileno()

    def _drain_notifications(self) -> None:
        assert self._listen_conn is not None
        try:
            for note in self._listen_conn.notifies(timeout=0):
                if note.payload:
                    due = float(note.payload)
                    if due > time.time():
                        self._next_due = due if self._next_due is None else min(
                            self._next_due, due)
        except psycopg.Error:
            self._close_listen()

    def _close_listen(self) -> None:
        if self._listen_conn is not None:
            try:
                self._listen_conn.close()
            except psycopg.Error:
                pass
            self._listen_conn = None

    # --- database errors ------------------------------------------------------------------------

    def _call(self, fn):
        """Run a store call; on a lost connection log once, back off, and return None."""
        try:
            result = fn()
        except (sa_exc.OperationalError, sa_exc.InterfaceError, psycopg.OperationalError) as exc:
            self._db_failed(exc)
            return None
        except errors.DatabaseUnavailable as exc:
            # Store reads (load_config) translate a lost server into this: same outage.
            self._db_failed(exc.__cause__ or exc)
            return None
        except sa_exc.DBAPIError as exc:
            if not db.is_disconnect(exc):
                raise
            self._db_failed(exc)
            return None
        if self._db_down_since is not None:
            log.warning("worker %s: database is back after %.1fs", os.getpid(),
                        time.monotonic() - self._db_down_since)
            self._db_down_since = None
            self._db_delay = 0.2
            self._next_heartbeat = 0.0  # extend leases and flush at once
        return result if result is not None else True

    def _db_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._db_down_since is None:
            self._db_down_since = now
            log.warning("worker %s: database unavailable (%s); retrying with backoff, "
                        "%d job(s) keep running", os.getpid(), db.describe_error(exc),
                        len(self._inflight))
        self._close_listen()
        self._db_retry_at = now + self._db_delay
        self._db_delay = min(self._db_delay * 2, _MAX_DB_BACKOFF)
