"""In-memory stand-ins for the worker's outside world: a `Store` (the database) and a
runner, for unit tests of the worker's parts without PostgreSQL or processes."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queuectl import errors, store
from queuectl.core import configkeys
from queuectl.db.models import JobState
from queuectl.worker.runner import Outcome


@dataclass
class FakeJob:
    id: str
    command: str
    max_retries: int = 3
    priority: int = 0
    run_at: float = 0.0
    state: JobState = JobState.PENDING
    attempts: int = 0
    run_id: int | None = None
    worker_id: int | None = None
    lease_expires: float | None = None
    error: str | None = None
    retry_on: tuple[int, ...] | None = None
    no_retry_on: tuple[int, ...] | None = None
    backoff_base: float | None = None
    cwd: str | None = None
    env: dict[str, str] | None = None


class FakeListener:
    """A pipe standing in for a LISTEN connection."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.pending: list[str] = []

    def notify(self, payload: str = "") -> None:
        self.pending.append(payload)
        os.write(self._w, b"x")

    def fileno(self) -> int:
        return self._r

    def payloads(self) -> list[str]:
        try:
            os.read(self._r, 4096)
        except BlockingIOError:
            pass
        out, self.pending = self.pending, []
        return out

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass


class FakeStore:
    """The `queuectl.worker.ports.Store` calls, on dicts, with a settable clock and outage."""

    def __init__(self, clock: Callable[[], float] = time.time, **config: Any) -> None:
        self.clock = clock
        self.config = {**configkeys.defaults(), "heartbeat_interval": 0.05,
                       "poll_interval": 0.05, **config}
        self.jobs: dict[str, FakeJob] = {}
        self.workers: dict[int, float] = {}  # id -> last heartbeat
        self.leader: tuple[int, float] | None = None
        self.written: list[store.RunResult] = []
        self.listeners: list[FakeListener] = []
        self.down = False
        self.controls: list[store.Control] = []
        self.output: list[tuple[str, int, str]] = []
        self.stop_requests: dict[int, float | None] = {}
        self.calls = 0  # attempts that reached the "server", including refused ones
        self.refuse_finish: set[str] = set()  # job ids whose result the "server" refuses
        self.refuse_claims = False
        self.cron_passes = 0
        self.cron_next_in: float | None = None  # what enqueue_due_crons says of the next tick
        self._ids = itertools.count(1)
        self._run_ids = itertools.count(100)
        self._lock = threading.Lock()

    # --- test helpers ---------------------------------------------------------------------

    def add(self, *jobs: FakeJob) -> None:
        for job in jobs:
            self.jobs[job.id] = job
        for listener in self.listeners:
            listener.notify()

    def states(self) -> dict[str, str]:
        return {j.id: j.state.value for j in self.jobs.values()}

    def _server(self) -> None:
        self.calls += 1
        if self.down:
            raise errors.DatabaseUnavailable("cannot connect to PostgreSQL at fake: refused")

    # --- Store ----------------------------------------------------------------------------

    def load_config(self) -> dict[str, Any]:
        self._server()
        return dict(self.config)

    def register_worker(self, *, host: str, pid: int, version: str, concurrency: int,
                        worker_id: int | None = None) -> int:
        self._server()
        wid = worker_id if worker_id is not None else next(self._ids)
        self.workers[wid] = self.clock()
        return wid

    def deregister_worker(self, *, worker_id: int) -> None:
        self._server()
        self.workers.pop(worker_id, None)

    def heartbeat(self, *, worker_id: int, run_ids: Sequence[int], lease_seconds: float,
                  state: str = "running", running: Sequence[int] = ()
                  ) -> store.Beat:
        self._server()
        registered = worker_id in self.workers
        self.workers[worker_id] = self.clock()
        held = set()
        for job in self.jobs.values():
            if job.state is JobState.PROCESSING and job.worker_id == worker_id:
                if job.run_id in run_ids:
                    job.lease_expires = self.clock() + lease_seconds
                    held.add(job.run_id)
                else:
                    job.state, job.attempts = JobState.PENDING, job.attempts - 1
        return store.Beat(registered, held, worker_id in self.stop_requests,
                          self.stop_requests.get(worker_id))

    def finish_and_claim(self, *, results: Sequence[store.RunResult], worker_id: int | None,
                         limit: int, lease_seconds: float, start_now: int | None = None
                         ) -> tuple[set[tuple[str, int]], list[store.Claimed]]:
        self._server()
        if self.refuse_claims and limit:
            raise errors.DatabaseError("database error at fake: no claims (SQLSTATE P0001)",
                                       sqlstate="P0001")
        with self._lock:
            written = self._finish(results)
            due = sorted((j for j in self.jobs.values()
                          if j.state in (JobState.PENDING, JobState.FAILED)
                          and j.run_at <= self.clock()),
                         key=lambda j: (-j.priority, j.run_at, j.id))[:limit]
            claimed = []
            for job in due:
                job.state, job.attempts = JobState.PROCESSING, job.attempts + 1
                job.run_id, job.worker_id = next(self._run_ids), worker_id
                job.lease_expires = self.clock() + lease_seconds
                claimed.append(store.Claimed(
                    job.id, job.command, job.run_id, job.attempts, job.max_retries, None,
                    job.retry_on, job.no_retry_on, job.backoff_base, job.cwd, job.env))
        return written, claimed

    def _finish(self, results: Sequence[store.RunResult], *,
                expired_only: bool = False) -> set[tuple[str, int]]:
        refused = sorted({r.job_id for r in results} & self.refuse_finish)
        if refused:  # the whole statement fails, as on a real server
            raise errors.DatabaseError(
                f"database error at fake: job {refused[0]} may not finish (SQLSTATE P0001)",
                sqlstate="P0001")
        written = set()
        for r in results:
            job = self.jobs.get(r.job_id)
            if job is None or job.run_id != r.run_id or job.state is not JobState.PROCESSING:
                continue
            if expired_only and (job.lease_expires or 0) >= self.clock():
                continue
            job.state, job.error, job.worker_id = r.state, r.error, None
            if r.state is JobState.FAILED:
                job.run_at = self.clock() + r.retry_delay
            self.written.append(r)
            written.add((r.job_id, r.run_id))
        return written

    def abandon_run(self, *, job_id: str, run_id: int, error: str,
                    lease_expired: bool = False) -> bool:
        self._server()
        job = self.jobs.get(job_id)
        if job is None or job.run_id != run_id or job.state is not JobState.PROCESSING:
            return False
        if lease_expired and (job.lease_expires or 0) >= self.clock():
            return False
        job.state, job.error, job.worker_id = JobState.DEAD, error, None
        return True

    def requeue_runs(self, *, runs: Sequence[tuple[str, int]]) -> list[str]:
        self._server()
        back = []
        for job_id, run_id in runs:
            job = self.jobs[job_id]
            if job.run_id == run_id and job.state is JobState.PROCESSING:
                job.state, job.attempts, job.worker_id = JobState.PENDING, job.attempts - 1, None
                back.append(job_id)
        return back

    def try_lead(self, *, worker_id: int, lease_seconds: float, stale_after: float) -> bool:
        self._server()
        now = self.clock()
        holder = None if self.leader is None else self.leader[0]
        if (self.leader is None or holder == worker_id or self.leader[1] < now
                or self.workers.get(holder or 0, -1e18) < now - stale_after):
            self.leader = (worker_id, now + lease_seconds)
            return True
        return False

    def resign_leader(self, *, worker_id: int) -> None:
        self._server()
        if self.leader is not None and self.leader[0] == worker_id:
            self.leader = None

    def expired_runs(self, *, limit: int = 500) -> list[store.ExpiredRun]:
        self._server()
        return [store.ExpiredRun(j.id, j.run_id or 0, j.attempts, j.max_retries, j.worker_id,
                                 "fakehost", 1, 1.0, j.backoff_base)
                for j in self.jobs.values()
                if j.state is JobState.PROCESSING and (j.lease_expires or 0) < self.clock()
                ][:limit]

    def rescue_runs(self, *, results: Sequence[store.RunResult]) -> list[str]:
        self._server()
        return sorted(job_id for job_id, _ in self._finish(results, expired_only=True))

    def delete_stale_workers(self, *, older_than: float) -> int:
        self._server()
        stale = [w for w, seen in self.workers.items() if seen < self.clock() - older_than]
        for w in stale:
            del self.workers[w]
        return len(stale)

    def prune(self, *, older_than: float, wait: bool = True) -> tuple[int, int] | None:
        self._server()
        return 0, 0

    def take_controls(self, *, run_ids: Sequence[int]) -> list[store.Control]:
        self._server()
        taken = [c for c in self.controls if c.run_id in run_ids]
        self.controls = [c for c in self.controls if c.run_id not in run_ids]
        return taken

    def append_output(self, *, chunks: Sequence[tuple[str, int, str]]) -> None:
        self._server()
        self.output.extend(chunks)

    def delete_finished_output(self, *, older_than: float) -> int:
        self._server()
        return 0

    def enqueue_due_crons(self) -> store.CronPass:
        self._server()
        self.cron_passes += 1
        return store.CronPass([], self.cron_next_in)

    def open_listener(self) -> FakeListener:
        self._server()
        listener = FakeListener()
        self.listeners.append(listener)
        return listener


class FakeRunner:
    """Runs nothing: `outcomes` maps a command to (exit code, seconds); the default is
    success at once. Records the commands it ran, in order."""

    def __init__(self, outcomes: dict[str, tuple[int, float]] | None = None) -> None:
        self.outcomes = outcomes or {}
        self.ran: list[str] = []
        self.contexts: list[tuple[str | None, dict[str, str]]] = []
        self.killed: list[object] = []
        self.cancelled: list[object] = []
        self._kill_all = threading.Event()
        self.closed = False

    def run(self, command: str, *, timeout: float | None = None, key: object = None,
            cwd: str | None = None, env: Mapping[str, str] | None = None,
            sink: object = None) -> Outcome:
        self.ran.append(command)
        self.contexts.append((cwd, dict(env or {})))
        code, seconds = self.outcomes.get(command, (0, 0.0))
        if self._kill_all.wait(seconds):
            return Outcome(False, None, "interrupted", "", False, seconds, interrupted=True)
        if code == 0:
            return Outcome(True, 0, None, f"ran {command}", False, seconds)
        return Outcome(False, code, f"exited with code {code}", "", False, seconds)

    def kill(self, key: object) -> bool:
        self.killed.append(key)
        return True

    def kill_all(self) -> int:
        self._kill_all.set()
        return 1

    def close(self) -> None:
        self.closed = True

    def signal(self, key: object, signum: int) -> bool:
        return False

    def pause(self, key: object) -> bool:
        return False

    def resume(self, key: object) -> bool:
        return False

    def cancel(self, key: object, signum: int, grace: float) -> bool:
        self.cancelled.append(key)
        self._kill_all.set()
        return True

    def read_output(self, key: object, offset: int, limit: int) -> bytes | None:
        return None

    def output_size(self, key: object) -> int | None:
        return None
