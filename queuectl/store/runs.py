"""Runs as workers see them: claim, finish (fenced on run_id), finish-and-claim in one
statement, and requeue after a hard shutdown. Rescue of expired runs is in `upkeep`."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl.db.models import JobState
from queuectl.store import queues as queues_mod
from queuectl.store._common import _autocommit, _notify, fetch
from queuectl.store.statements import runs as runs_sql

__all__ = [
    "Claimed",
    "RunResult",
    "abandon_run",
    "claim_jobs",
    "finish_and_claim",
    "finish_runs",
    "requeue_runs",
]

_log = logging.getLogger("queuectl.store")


@dataclass(frozen=True)
class Claimed:
    """A job a worker has claimed: `run_id` is the fencing token for this run."""

    id: str
    command: str
    run_id: int
    attempts: int
    max_retries: int
    timeout_ms: int | None
    retry_on: tuple[int, ...] | None = None
    no_retry_on: tuple[int, ...] | None = None
    backoff_base: float | None = None
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    queue: str = "default"


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run, ready to be written if the run is still current."""

    job_id: str
    run_id: int
    state: JobState
    exit_code: int | None
    error: str | None
    output: str | None
    output_truncated: bool
    duration: float | None
    retry_delay: float = 0.0


# --- claim, finish, requeue (the statements: `statements.runs`) ---------------------------

_STATEMENTS = {
    (True, True): runs_sql.job_finish_and_claim,
    (True, False): runs_sql.job_finish_if_running_many,
    (False, True): runs_sql.job_claim_available,
}


def _result_params(results: Sequence[RunResult], worker_id: int | None) -> dict[str, Any]:
    return {
        "ids": [r.job_id for r in results],
        "run_ids": [r.run_id for r in results],
        "states": [r.state.value for r in results],
        "exit_codes": [r.exit_code for r in results],
        "errors": [r.error for r in results],
        "outputs": [r.output for r in results],
        "truncated": [r.output_truncated for r in results],
        "durations": [None if r.duration is None else float(r.duration) for r in results],
        "delays": [float(r.retry_delay) for r in results],
        "worker_id": worker_id,
    }


def _split(conn: sa.Connection, rows: Sequence[Any]) -> tuple[set[tuple[str, int]],
                                                                 list[Claimed], list[str]]:
    written = {(r.id, r.run_id) for r in rows if r.kind == "finished"}
    retry_at = [r.run_at for r in rows if r.kind == "finished" and r.state == "failed"]
    if retry_at:
        _notify(conn, min(retry_at))  # idle workers wake when the earliest retry is due
    claimed = sorted((r for r in rows if r.kind == "claimed"), key=lambda r: r.n)
    return written, [_claimed(r) for r in claimed], [r.id for r in rows if r.kind == "limited"]


def _claimed(r: Any) -> Claimed:
    """A `Claimed` from a row of a claim's RETURNING (here or in `queues.claim_limited`)."""
    def codes(value: Sequence[int] | None) -> tuple[int, ...] | None:
        return None if value is None else tuple(value)

    return Claimed(r.id, r.command, r.run_id, r.attempts, r.max_retries, r.timeout_ms,
                   codes(r.retry_on), codes(r.no_retry_on), r.backoff_base, r.cwd, r.env,
                   r.queue)


def claim_jobs(
    engine: sa.Engine, *, worker_id: int, limit: int, lease_seconds: float,
    start_now: int | None = None, queues: Sequence[str] | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due jobs (priority, then run_at, then id) in one statement, of the
    `queues` given (default: all); the first `start_now` (default: all) are marked started."""
    return finish_and_claim(engine, results=[], worker_id=worker_id, limit=limit,
                            lease_seconds=lease_seconds, start_now=start_now,
                            queues=queues)[1]


def finish_runs(
    engine: sa.Engine | sa.Connection, *, results: Sequence[RunResult], worker_id: int | None
) -> set[tuple[str, int]]:
    """Record outcomes of runs that are still current (fenced on run_id); returns the
    (job id, run id) pairs written. Runs missing from the answer were stale: rescued and
    handed to another worker, or put back."""
    if not results:
        return set()
    if isinstance(engine, sa.Connection):
        return _split(engine, fetch(engine, runs_sql.job_finish_if_running_many,
                                    _result_params(results, worker_id), prepare=True))[0]
    return finish_and_claim(engine, results=results, worker_id=worker_id, limit=0,
                            lease_seconds=0)[0]


def finish_and_claim(
    engine: sa.Engine, *, results: Sequence[RunResult], worker_id: int | None, limit: int,
    lease_seconds: float, start_now: int | None = None, queues: Sequence[str] | None = None,
) -> tuple[set[tuple[str, int]], list[Claimed]]:
    """Record `results` (fenced, as `finish_runs`) and claim up to `limit` due jobs of the
    `queues` given (default: all), in one statement and one round trip; returns (runs
    written, jobs claimed). The first `start_now` claimed jobs (default: all) are marked
    started; the rest are claimed, not started. When that leaves slots to start now and a
    limited queue has due jobs, `queues.claim_limited` fills them (one more transaction per
    limited queue tried)."""
    written, claimed, limited = _finish_and_claim(
        engine, results=results, worker_id=worker_id, limit=limit,
        lease_seconds=lease_seconds, start_now=start_now, queues=queues)
    start = min(limit, limit if start_now is None else start_now)
    # As the statement did: `start_now` places, less the one left to limited queues.
    started = max(0, min(len(claimed), start - (1 if limited else 0)))
    free = start - started
    taken: list[Claimed] = []
    for name in random.sample(limited, len(limited)):  # no queue always served first
        if free <= 0:
            break
        try:
            rows = queues_mod.claim_limited(engine, queue=name, worker_id=worker_id,
                                            limit=free, lease_seconds=lease_seconds)
        except (sa_exc.SQLAlchemyError, psycopg.Error) as exc:
            # The results and the ordinary claim above are committed: report them, or the
            # worker would write the results again and lose the jobs it claimed.
            _log.warning("claim from limited queue %s failed: %s", name, exc)
            break
        taken += [_claimed(r) for r in rows]
        free -= len(rows)
    # Started jobs first (the worker runs them in this order), then the prefetched ones.
    claimed = claimed[:started] + taken + claimed[started:]
    return written, claimed


def _finish_and_claim(
    engine: sa.Engine, *, results: Sequence[RunResult], worker_id: int | None, limit: int,
    lease_seconds: float, start_now: int | None, queues: Sequence[str] | None,
) -> tuple[set[tuple[str, int]], list[Claimed], list[str]]:
    limit = max(0, limit)
    if not (results or limit):
        return set(), [], []
    params: dict[str, Any] = (_result_params(results, worker_id) if results
                              else {"worker_id": worker_id})
    params.update(limit=limit, lease=lease_seconds,
                  start_now=limit if start_now is None else start_now,
                  queues=None if queues is None else list(queues))
    statement = _STATEMENTS[bool(results), bool(limit)]
    with _autocommit(engine).connect() as conn:
        return _split(conn, fetch(conn, statement, params, prepare=True))


def abandon_run(engine: sa.Engine, *, job_id: str, run_id: int, error: str,
                lease_expired: bool = False) -> bool:
    """Move a job whose run's result the database refused to `dead` with `error`, if the run
    is still current (and, with `lease_expired`, its lease still expired, as for a rescue);
    True if it was. The fallback when the server refuses a run's result (a trigger's error,
    say): so that the job leaves `processing` and its worker (or the leader) goes on."""
    with _autocommit(engine).connect() as conn:
        rows = fetch(conn, runs_sql.job_abandon_if_running,
                     {"id": job_id, "run_id": run_id, "error": error, "expired": lease_expired})
    return bool(rows)


def requeue_runs(engine: sa.Engine, *, runs: Iterable[tuple[str, int]]) -> list[str]:
    """Put runs that were interrupted by a hard shutdown back to pending, not counted as an
    attempt; returns the job ids put back."""
    runs = list(runs)
    if not runs:
        return []
    with _autocommit(engine).connect() as conn:
        rows = fetch(conn, runs_sql.job_requeue_if_running_many,
                     {"ids": [r[0] for r in runs], "run_ids": [r[1] for r in runs]})
        _notify(conn, None)
    return [r.id for r in rows]
