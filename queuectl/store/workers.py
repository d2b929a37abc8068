"""The worker registry: register, heartbeat (which extends leases), state, deregister, list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from queuectl import db
from queuectl.db import models
from queuectl.db.models import WorkerInfo
from queuectl.store import sql
from queuectl.store._common import _autocommit, _workers

__all__ = ["Beat", "deregister_worker", "heartbeat", "list_workers", "register_worker",
           "set_worker_state"]


def register_worker(
    engine: sa.Engine, *, host: str, pid: int, version: str, concurrency: int,
    worker_id: int | None = None,
) -> int:
    """Register a worker process (again, under the same id, after it was dropped)."""
    values = {"host": host, "pid": pid, "version": version, "concurrency": concurrency}
    if worker_id is not None:
        values["id"] = worker_id
    with engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(models.workers).values(**values).returning(models.workers.c.id)
            ).scalar_one()
        )


_HEARTBEAT = sa.text(
    f"""
    WITH w AS (
        UPDATE workers SET heartbeat_at = now(), state = :state WHERE id = :worker_id
        RETURNING id
    ), leases AS (
        -- Prefetched runs that a slot has started since they were claimed are marked started.
        UPDATE jobs SET lease_expires_at = now() + :lease * interval '1 second',
                        started_at = CASE WHEN started_at IS NULL
                                               AND run_id = ANY(CAST(:running AS bigint[]))
                                          THEN now() ELSE started_at END
        WHERE state = {sql.PROCESSING} AND worker_id = :worker_id
              AND run_id = ANY(CAST(:run_ids AS bigint[]))
        RETURNING run_id
    ), phantom AS (
        -- Claimed by this worker, but it never learned so (the connection died before the
        -- claim's answer arrived): put back uncounted rather than rescue it as a lost run.
        UPDATE jobs SET state = {sql.PENDING}, attempts = greatest(attempts - 1, 0), run_at = now(),
                        worker_id = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE state = {sql.PROCESSING} AND worker_id = :worker_id
              AND run_id <> ALL(CAST(:run_ids AS bigint[]))
        RETURNING id
    )
    SELECT (SELECT count(*) FROM w) AS registered, (SELECT array_agg(run_id) FROM leases) AS held,
           (SELECT stop_requested_at IS NOT NULL FROM workers WHERE id = :worker_id) AS stop,
           (SELECT stop_grace FROM workers WHERE id = :worker_id) AS stop_grace
    """
)


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
        row = conn.execute(
            _HEARTBEAT,
            {"worker_id": worker_id, "run_ids": list(run_ids), "lease": lease_seconds,
             "state": state, "running": list(running)},
        ).one()
    return Beat(bool(row.registered), set(row.held or []), bool(row.stop), row.stop_grace)


def set_worker_state(engine: sa.Engine, *, worker_id: int, state: str) -> None:
    """Mark a worker `running` or `stopping` (shown by status)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(models.workers).where(models.workers.c.id == worker_id).values(state=state)
        )


def deregister_worker(engine: sa.Engine, *, worker_id: int) -> None:
    """Remove a worker's registration when it exits cleanly."""
    with engine.begin() as conn:
        conn.execute(sa.delete(models.workers).where(models.workers.c.id == worker_id))


def list_workers(engine: sa.Engine, *, live_within: float) -> list[WorkerInfo]:
    """Workers that heartbeated within `live_within` seconds, with the jobs they run."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _workers(conn, live_within)
