"""The fleet's upkeep as the store sees it: the leader lease, expired runs and their rescue,
and stale worker registrations. What to do with an expired run (retry or DLQ) is decided by the
caller (`queuectl.worker.outcomes`); the store writes what it is told, fenced on run_id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from queuectl.db.models import JobState
from queuectl.store import sql
from queuectl.store._common import _autocommit, _notify
from queuectl.store.runs import _FINISH_CTES, RunResult, _result_params

__all__ = [
    "ExpiredRun",
    "delete_stale_workers",
    "expired_runs",
    "resign_leader",
    "rescue_runs",
    "try_lead",
]

_UPKEEP = "upkeep"


@dataclass(frozen=True)
class ExpiredRun:
    """A processing job whose lease has expired: its worker stopped heartbeating."""

    id: str
    run_id: int
    attempts: int
    max_retries: int
    worker_id: int | None
    host: str | None
    pid: int | None
    ran_for: float | None
    backoff_base: float | None = None  # the job's own, if it set one


_LEAD = sa.text(
    """
    INSERT INTO leader AS l (name, worker_id, elected_at, expires_at)
    VALUES (:name, :worker_id, now(), now() + :lease * interval '1 second')
    ON CONFLICT (name) DO UPDATE
        SET worker_id = excluded.worker_id, expires_at = excluded.expires_at,
            elected_at = CASE WHEN l.worker_id = excluded.worker_id THEN l.elected_at
                              ELSE now() END
        WHERE l.worker_id = excluded.worker_id OR l.expires_at < now()
              OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = l.worker_id
                             AND w.heartbeat_at >= now() - :stale * interval '1 second')
    RETURNING worker_id
    """
)


def try_lead(engine: sa.Engine, *, worker_id: int, lease_seconds: float,
             stale_after: float) -> bool:
    """Take or renew the fleet's leader lease for `lease_seconds`; True if `worker_id` leads.
    Another worker takes over once the lease expired, or its holder's registration is gone or
    has not heartbeated for `stale_after` seconds (it is no longer live)."""
    with _autocommit(engine).connect() as conn:
        row = conn.execute(
            _LEAD, {"name": _UPKEEP, "worker_id": worker_id, "lease": lease_seconds,
                    "stale": stale_after}
        ).first()
    return row is not None


def resign_leader(engine: sa.Engine, *, worker_id: int) -> None:
    """Give up the leader lease (a clean exit), so another worker takes over at once."""
    with _autocommit(engine).connect() as conn:
        conn.execute(sa.text("DELETE FROM leader WHERE name = :name AND worker_id = :w"),
                     {"name": _UPKEEP, "w": worker_id})


_EXPIRED = sa.text(
    f"""
    SELECT j.id, j.run_id, j.attempts, j.max_retries, j.worker_id, w.host, w.pid,
           extract(epoch FROM now() - j.started_at)::float8 AS ran_for, j.backoff_base
    FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
    WHERE j.state = '{JobState.PROCESSING}' AND j.lease_expires_at < now()
    ORDER BY j.lease_expires_at
    LIMIT :limit
    """
)


def expired_runs(engine: sa.Engine, *, limit: int = 500) -> list[ExpiredRun]:
    """Processing jobs whose lease expired, oldest expiry first."""
    with _autocommit(engine).connect() as conn:
        rows = conn.execute(_EXPIRED, {"limit": limit}).all()
    return [ExpiredRun(**r._asdict()) for r in rows]


# Fenced twice: on run_id (as every result) and on the lease still being expired, so a worker
# that heartbeated in the meantime keeps its run.
_FENCE = f"AND j.state = {sql.PROCESSING}"
assert _FINISH_CTES.count(_FENCE) == 1
_RESCUE = sa.text(
    "WITH " + _FINISH_CTES.replace(_FENCE, _FENCE + " AND j.lease_expires_at < now()")
    + " SELECT id, run_id FROM upd"
)


def rescue_runs(engine: sa.Engine, *, results: Sequence[RunResult]) -> list[str]:
    """Write the outcome decided for expired runs whose lease is still expired; returns the
    rescued job ids (sorted) and wakes idle workers."""
    if not results:
        return []
    with _autocommit(engine).connect() as conn:
        rows = conn.execute(_RESCUE, _result_params(results, None)).all()
        if rows:
            _notify(conn, None)
    return sorted(r.id for r in rows)


def delete_stale_workers(engine: sa.Engine, *, older_than: float) -> int:
    """Drop registrations that have not heartbeated for `older_than` seconds; returns how
    many."""
    with _autocommit(engine).connect() as conn:
        return conn.execute(
            sa.text("DELETE FROM workers WHERE heartbeat_at < now() - :s * interval '1 second'"),
            {"s": older_than},
        ).rowcount
