"""A worker process: start-up, the main loop that ties the parts together, signals and
shutdown.

Parts (each in its own module, each owning one thing):
- `RunTable` (runs): the in-flight runs; `Executor` (executor): slot threads running them;
- `Completer` (completer): results on their way to the database;
- `Producer` (producer): how many to claim and the wake-ups;
- `Heartbeat` (heartbeat): registration, leases, config; `Upkeep` (upkeep): leader's chores;
- `Steering` (steering): users' cancel/signal/pause/resume; `Streams` (streams): live output;
- one `reconnect.Gate` in front of every database call, so all paths share one backoff.

A statement the server refuses (`errors.DatabaseError`) is no outage: the part that made it
carries on without it (see `Gate.attempt`), and the loop goes on with the other parts.

Shutdown: the first SIGTERM/SIGINT stops claiming and lets running jobs finish; a second
signal, or the `grace` period running out, kills the running process groups and puts those
jobs back to pending without counting the attempt.

Threading: the main thread runs `run()` and makes every database call; slot threads only run
commands. Signal handlers only set flags and wake the main thread.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

from queuectl import errors
from queuectl.db.reconnect import Gate, Offline
from queuectl.worker import memory
from queuectl.worker.completer import Completer, Summary
from queuectl.worker.executor import Executor, RunnerLike
from queuectl.worker.heartbeat import Heartbeat
from queuectl.worker.joblogs import JobLogs
from queuectl.worker.ports import Store
from queuectl.worker.producer import Producer, Waker
from queuectl.worker.runner import Runner
from queuectl.worker.runs import RunTable
from queuectl.worker.steering import Steering
from queuectl.worker.streams import Streams
from queuectl.worker.upkeep import Upkeep

__all__ = ["Worker"]

log = logging.getLogger("queuectl.worker")


class Worker:
    """One worker process: claims jobs, runs them on `concurrency` threads, records results."""

    def __init__(
        self, db: Store, *, concurrency: int = 1, listen: bool = True,
        grace: float | None = None, install_signals: bool = True,
        relay_fd: int | None = None, runner: RunnerLike | None = None,
        gate: Gate | None = None, job_logs: JobLogs | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.grace = grace
        self.install_signals = install_signals
        #: Called once the worker is registered and about to claim (daemon pid files).
        self.on_ready: Callable[[], None] | None = None
        self.gate = gate or Gate(name=f"worker {os.getpid()}", log=log)
        self._waker = Waker()
        self.table = RunTable(on_done=self._waker.wake)
        self.producer = Producer(db, self.gate, self._waker, concurrency=concurrency,
                                 listen=listen, relay_fd=relay_fd)
        self.completer = Completer(db, self.gate, on_retry_due=self.producer.note_due)
        self.executor = Executor(self.table, runner or Runner(), concurrency=concurrency,
                                 settings=lambda: self.heartbeat.settings,
                                 job_logs=job_logs)
        self.heartbeat = Heartbeat(db, self.gate, self.table, self.completer, self.executor,
                                   concurrency=concurrency)
        self.upkeep = Upkeep(db, self.gate)
        self.steering = Steering(db, self.gate, self.table, self.executor.runner,
                                 self.completer)
        self.streams = Streams(db, self.gate, self.executor.runner)
        self._stop_at: float | None = None
        self._hard = False
        self._signals = 0

    @property
    def summary(self) -> Summary:
        """How the worker ended (so far)."""
        return self.completer.summary

    @property
    def worker_id(self) -> int | None:
        """The registration id, once registered."""
        return self.heartbeat.worker_id

    # --- lifecycle ---------------------------------------------------------------------------

    def request_stop(self, *, hard: bool = False, grace: float | None = None) -> None:
        """Stop claiming and let running jobs finish, or (`hard`) kill them and put them back;
        `grace` (if given) replaces the worker's own."""
        if hard:
            self._hard = True
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        if grace is not None:
            self.grace = grace
        self._waker.wake()

    def _stop_requested(self, grace: float | None) -> None:
        """`worker stop` from some host asked this worker (through the database) to stop."""
        if self._stop_at is None:
            log.info("worker %s: stop requested through the database; finishing %d running "
                     "job(s), no new claims", os.getpid(), self.table.running())
            self.request_stop(grace=grace)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Only a second *signal* is a hard stop: a stop requested through the database
        # before it does not count.
        self._signals += 1
        first = self._signals == 1
        self.request_stop(hard=not first)
        if first:
            log.info("worker %s: %s received; finishing %d running job(s), no new claims "
                     "(signal again to kill them)", os.getpid(),
                     signal.Signals(signum).name, self.table.running())
        else:
            log.info("worker %s: second signal; killing running jobs", os.getpid())

    def run(self) -> Summary:
        """Run until stopped; returns how the worker ended."""
        if self.install_signals:  # this worker owns its process
            memory.bound_heap()
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        if self._start():
            self.executor.start()
            try:
                while self._step():
                    pass
            finally:
                self.completer.requeue(self.table.unqueue())  # after a crash only
                self.table.close()
                self.executor.join()
                self._leave()
        else:
            self.executor.join()
        self.producer.close()
        self._waker.close()
        return self.summary

    def _start(self) -> bool:
        """Register (waiting for the database as long as it takes); False if stopped first."""
        while self._stop_at is None:
            try:
                worker_id = self.heartbeat.register()
            except Offline:
                self.producer.wait(self.gate.wait_time())
                continue
            log.info("worker %s started (id %s, host %s, concurrency %d)", os.getpid(),
                     worker_id, socket.gethostname(), self.concurrency)
            if self.on_ready is not None:
                self.on_ready()
            return True
        return False

    def _leave(self) -> None:
        """Hand back leadership and deregister, if nothing is left unwritten."""
        worker_id = self.heartbeat.worker_id
        if worker_id is None or len(self.table) or self.completer.pending():
            return
        try:
            self.upkeep.resign(worker_id)
            self.heartbeat.deregister()
        except (Offline, errors.DatabaseError):
            pass  # its registration goes stale and the leader drops it

    # --- the loop ----------------------------------------------------------------------------

    def _step(self) -> bool:
        """One turn of the loop; False when the worker should exit."""
        for decision in self.table.take_done():
            self.producer.observe(decision.duration)
            self.streams.finished(decision)
            self.completer.add([decision])
        stopping = self._stop_at is not None
        if stopping:
            self._enforce_grace()
            self.completer.requeue(self.table.unqueue())
            if not (len(self.table) or self.completer.pending()):
                return False
        claimed = want = 0
        try:
            # While the database is away the heartbeat is the first call to retry, so leases
            # are extended as soon as it is back.
            if self.gate.down or self.heartbeat.due() or self.producer.take("stop"):
                self._beat(stopping)
            if self.producer.take("control"):
                self.steering.take()
            if (self.producer.take("cron") or self.upkeep.cron_due()) and not stopping:
                self.upkeep.cron()
            self.streams.poll(self.table.running_info())
            self.streams.flush()
            want = 0 if stopping else self.producer.want(len(self.table))
            self.completer.put_back()
            if self.completer.has_results() or want > 0:
                claimed = self._claim(want)
                if want > 0 and claimed == want:
                    return True  # got all we asked for: loop to refill at once
        except Offline:
            if stopping and self._hard and not len(self.table):
                log.error("worker %s: exiting with %d result(s) unwritten: the database is "
                          "away", os.getpid(), self.completer.pending())
                return False
        self.producer.wait(self._timeout(idle=not claimed and want > 0))
        return True

    def _beat(self, stopping: bool) -> None:
        worker_id = self.heartbeat.worker_id
        assert worker_id is not None
        beat = self.gate.attempt("the heartbeat", lambda: self.heartbeat.beat(stopping=stopping))
        if beat is not None and beat.stop_requested:
            self._stop_requested(beat.stop_grace)
        self.steering.take()
        self.upkeep.tick(worker_id, self.heartbeat.settings)

    def _claim(self, want: int) -> int:
        worker_id = self.heartbeat.worker_id
        assert worker_id is not None
        jobs = self.gate.attempt("claiming", lambda: self.completer.flush(
            claim=want, worker_id=worker_id, lease=self.heartbeat.settings.lease_timeout,
            start_now=max(0, self.concurrency - len(self.table))))
        if jobs is None:
            return 0
        if jobs:
            self.table.add(jobs)
            self.producer.claimed()
        return len(jobs)

    def _enforce_grace(self) -> None:
        assert self._stop_at is not None
        if self.grace is not None and not self._hard:
            if time.monotonic() - self._stop_at >= self.grace:
                log.info("worker %s: grace of %.1fs is over; killing running jobs",
                         os.getpid(), self.grace)
                self._hard = True
        if self._hard and self.table.running():
            self.summary.hard_stop = True
            self.executor.kill_all()

    def _timeout(self, *, idle: bool) -> float:
        now = time.monotonic()
        if self.gate.down:
            # Nothing can reach the database before the next allowed attempt (a finishing
            # run or a signal still wakes the loop at once).
            timeout = self.gate.wait_time()
        else:
            timeout = max(0.0, self.heartbeat.next_at - now)
            if idle and self._stop_at is None:
                timeout = min(timeout, self.producer.idle_timeout(
                    self.heartbeat.settings.poll_interval))
            cron = self.upkeep.cron_wait()
            if cron is not None and self._stop_at is None:
                timeout = min(timeout, cron)
            hint = self.streams.wait_hint(any(ran >= 1.0 for _, _, ran in
                                              self.table.running_info()))
            if hint is not None:
                timeout = min(timeout, hint)
        if self._stop_at is not None and self.grace is not None and not self._hard:
            timeout = min(timeout, max(0.0, self._stop_at + self.grace - now))
        return timeout
