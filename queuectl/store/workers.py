"""The worker registry: register, heartbeat (which extends leases), state, deregister, list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from queuectl import db
from queuectl.core import configkeys
from queuectl.db.models import WorkerInfo
from queuectl.store._common import _autocommit, _config, _workers, fetch, run
from queuectl.store.statements import workers as workers_sql

__all__ = ["Beat", "SilentWorker", "deregister_worker", "heartbeat", "list_workers",
           "register_worker", "request_silent_worker_stop", "set_worker_state"]


def register_worker(
    engine: sa.Engine, *, host: str, pid: int, version: str, concurrency: int,
    worker_id: int | None = None,
) -> int:
    """Register a worker process (again, under the same id, after it was dropped)."""
    values = {"host": host, "pid": pid, "version": version, "concurrency": concurrency,
              "id": worker_id}
    statement = (workers_sql.worker_insert if worker_id is None
                 else workers_sql.worker_insert_with_id)
    with engine.begin() as conn:
        return int(fetch(conn, statement, values)[0].id)


@dataclass(frozen=True)
class Beat:
    """A heartbeat's answer: is the registration still there, which runs the worker still
    holds, and whether someone asked it to stop (`worker stop --host/--all-hosts`)."""

    registered: bool
    held: set[int]
    stop_requested: bool = False
    stop_grace: float | None = None


def heartbeat(
    engine: sa.Engine, *, worker_id: int, run_ids: Sequence[int], lease_seconds: float,
    state: str = "running", running: Sequence[int] = (),
) -> Beat:
    """Prove the worker is alive and extend the leases of its runs; returns whether the
    registration still exists and which runs it still holds. `run_ids` must name every run
    the worker holds (running or with a result not yet written): its other processing jobs
    are claims whose answer was lost, and go back to pending without counting the attempt.
    `running` names the runs a slot has started: prefetched ones are marked started."""
    with _autocommit(engine).connect() as conn:
        [row] = fetch(conn, workers_sql.worker_heartbeat, {
            "worker_id": worker_id, "run_ids": list(run_ids), "lease": lease_seconds,
            "state": state, "running": list(running)}, prepare=True)
    return Beat(bool(row.registered), set(row.held or []), bool(row.stop), row.stop_grace)


def set_worker_state(engine: sa.Engine, *, worker_id: int, state: str) -> None:
    """Mark a worker `running` or `stopping` (shown by status)."""
    with engine.begin() as conn:
        run(conn, workers_sql.worker_set_state, {"id": worker_id, "state": state})


def deregister_worker(engine: sa.Engine, *, worker_id: int) -> None:
    """Remove a worker's registration when it exits cleanly."""
    with engine.begin() as conn:
        run(conn, workers_sql.worker_delete, {"id": worker_id})


def list_workers(engine: sa.Engine, *, live_within: float) -> list[WorkerInfo]:
    """Workers that heartbeated within `live_within` seconds, with the jobs they run."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _workers(conn, live_within)


@dataclass(frozen=True)
class SilentWorker:
    """A registered worker that has not heartbeated lately (`silent_for` seconds), not for so
    long that the leader would drop it as dead: it may have died, or may be running late."""

    id: int
    host: str
    pid: int
    silent_for: float


def request_silent_worker_stop(engine: sa.Engine, *, host: str | None, grace: float | None,
                               skip: Sequence[int]) -> list[SilentWorker]:
    """Ask the registered workers of `host` (None: every host) that `request_worker_stop`
    did not find live (`skip` are the ones it did) to stop as well, if they still run; returns
    them. A registration is silent, not dead, until the leader would drop it: for twice the
    lease, and at least a minute (as `worker.upkeep` does)."""
    with db.translate_errors(engine), engine.begin() as conn:
        dead = max(2 * configkeys.lease_seconds(_config(conn)), 60.0)
        rows = fetch(conn, workers_sql.worker_request_stop_silent, {
            "host": host, "grace": grace, "skip": list(skip), "dead": dead})
    return [SilentWorker(r.id, r.host, r.pid, float(r.silent_for)) for r in rows]
