"""The fleet's upkeep as the store sees it: the leader lease, expired runs and their rescue,
stale worker registrations, and waiting jobs left with nothing to wait for. What to do with
an expired run (retry or DLQ) is decided by the caller (`queuectl.worker.outcomes`); the
store writes what it is told, fenced on run_id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from queuectl.core.records import JobState
from queuectl.store._common import _autocommit, _notify, fetch, run
from queuectl.store.runs import RunResult, _result_params
from queuectl.store.statements import runs as runs_sql
from queuectl.store.statements import upkeep as upkeep_sql

__all__ = [
    "ExpiredRun",
    "delete_stale_workers",
    "expired_runs",
    "resign_leader",
    "rescue_runs",
    "settle_stranded",
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


def try_lead(engine: sa.Engine, *, worker_id: int, lease_seconds: float,
             stale_after: float) -> bool:
    """Take or renew the fleet's leader lease for `lease_seconds`; True if `worker_id` leads.
    Another worker takes over once the lease expired, or its holder's registration is gone or
    has not heartbeated for `stale_after` seconds (it is no longer live)."""
    with _autocommit(engine).connect() as conn:
        rows = fetch(conn, upkeep_sql.leader_attempt_elect, {
            "name": _UPKEEP, "worker_id": worker_id, "lease": lease_seconds,
            "stale": stale_after})
    return bool(rows)


def resign_leader(engine: sa.Engine, *, worker_id: int) -> None:
    """Give up the leader lease (a clean exit), so another worker takes over at once."""
    with _autocommit(engine).connect() as conn:
        run(conn, upkeep_sql.leader_resign, {"name": _UPKEEP, "worker_id": worker_id})


def expired_runs(engine: sa.Engine, *, limit: int = 500) -> list[ExpiredRun]:
    """Processing jobs whose lease expired, oldest expiry first."""
    with _autocommit(engine).connect() as conn:
        rows = fetch(conn, upkeep_sql.job_list_expired, {"limit": limit})
    return [ExpiredRun(**r._asdict()) for r in rows]


def rescue_runs(engine: sa.Engine, *, results: Sequence[RunResult]) -> list[str]:
    """Write the outcome decided for expired runs whose lease is still expired; returns the
    rescued job ids (sorted) and wakes idle workers."""
    if not results:
        return []
    with _autocommit(engine).connect() as conn:
        rows = fetch(conn, runs_sql.job_rescue_if_expired_many, _result_params(results, None))
        if rows:
            _notify(conn, None)
    return sorted(r.id for r in rows)


def delete_stale_workers(engine: sa.Engine, *, older_than: float) -> int:
    """Drop registrations that have not heartbeated for `older_than` seconds; returns how
    many."""
    with _autocommit(engine).connect() as conn:
        return run(conn, upkeep_sql.worker_delete_stale, {"older_than": older_than})


def settle_stranded(conn: sa.Connection) -> list[tuple[str, JobState]]:
    """In the caller's transaction, settle the waiting jobs that would wait for ever (see
    `job_settle_stranded`): their ids and new states, by id. Wakes workers for the ones now
    pending. `prune` calls it before it deletes: a job waiting on a dead or cancelled job
    (an earlier version's `retry` left such jobs) is cancelled for it while it is still
    there to name, and one whose dependencies were pruned runs."""
    rows = fetch(conn, upkeep_sql.job_settle_stranded)
    due = [r.run_at for r in rows if r.state == JobState.PENDING.value]
    if due:
        first = min(due)
        _notify(conn, None if first <= datetime.now(UTC) else first)
    return sorted((r.id, JobState(r.state)) for r in rows)
