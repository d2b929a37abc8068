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
from psycopg.rows import namedtuple_row
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql

from queuectl import db
from queuectl.db.models import JobState
from queuectl.store import queues as queues_mod
from queuectl.store import sql
from queuectl.store._common import _autocommit, _notify

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


# --- claim, finish, requeue, rescue ----------------------------------------------------------

# The statements below are composed from these CTEs so that a worker can record finished
# runs and claim new jobs in one round trip (`finish_and_claim`).
#
# The due scan is a skip scan over priorities: `prios` walks the distinct priorities of
# claimable jobs from the highest down (one index probe each, evaluated lazily), and for each
# one `due` reads `ix_jobs_claimable` (priority DESC, run_at, id) in the range
# `priority = p AND run_at <= now()`. A single scan ordered by (priority, run_at) cannot stop at
# the first future run_at, so with a million jobs scheduled ahead (or waiting out a backoff) an
# idle poll used to read all of them; this one reads only due rows plus one probe per
# priority. Order among due jobs is exact: priorities are visited highest first, and the outer
# LIMIT stops the walk as soon as enough jobs are locked.
#
# Queues: `:queues` (NULL: all) is the worker's `--queue` list; `held_back` the paused and
# limited queues, which only `queues.claim_limited` claims from (see `store.queues`). The
# EXISTS in the outer WHERE is evaluated once (it names no column of `jobs`): a worker whose
# queues are all held back skips the scan instead of reading every claimable job to find none
# of its own. The `NOT EXISTS ... OR` keeps the row estimate sane: alone, `queue <> ALL(...)`
# is estimated from the column's statistics, and with (nearly) every job in `default` the
# planner expects no row to pass.
def _claim_ctes(*, finishing: bool) -> str:
    return f"""
    held_back AS ({queues_mod.HELD_BACK}
    ), prios AS (
        (SELECT priority FROM jobs WHERE state IN ({sql.CLAIMABLE})
         ORDER BY priority DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT j.priority FROM jobs j
                WHERE j.state IN ({sql.CLAIMABLE}) AND j.priority < p.priority
                ORDER BY j.priority DESC LIMIT 1)
        FROM prios p WHERE p.priority IS NOT NULL
    ), due AS (
        SELECT d.id, d.priority, d.run_at
        FROM prios p CROSS JOIN LATERAL (
            SELECT id, priority, run_at FROM jobs
            WHERE state IN ({sql.CLAIMABLE}) AND priority = p.priority AND run_at <= now()
                  AND (CAST(:queues AS text[]) IS NULL
                       OR queue = ANY(CAST(:queues AS text[])))
                  AND (NOT EXISTS (SELECT 1 FROM held_back)
                       OR queue <> ALL(ARRAY(SELECT name FROM held_back)))
            ORDER BY run_at, id
            LIMIT :limit
            FOR UPDATE SKIP LOCKED
        ) d
        WHERE p.priority IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM switches
                              WHERE name = 'claiming' AND value = 'paused')
              AND (CAST(:queues AS text[]) IS NULL
                   OR EXISTS (SELECT 1 FROM unnest(CAST(:queues AS text[])) AS w(name)
                              WHERE w.name <> ALL(ARRAY(SELECT name FROM held_back))))
        LIMIT :limit
    ), ranked AS (
        SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM due
    ), limited AS ({queues_mod.limited_sql(finishing=finishing)}
    ), claimed AS (
        UPDATE jobs j
        SET {sql.CLAIM_SET},
            started_at = CASE WHEN ranked.n <= :start_now - (SELECT least(count(*), 1)
                                                             FROM limited)
                              THEN now() END,
            lease_expires_at = now() + :lease * interval '1 second'
        FROM ranked WHERE j.id = ranked.id
        RETURNING {sql.CLAIMED_COLUMNS}, ranked.n
    )"""
# `started_at` is set for the first `start_now` claimed jobs, which go straight to free slots;
# the rest wait in the worker's prefetch buffer and are "claimed, not started" (NULL) until a
# heartbeat or their result says when they started. While a limited queue has a due job and
# room (`limited`), one of the `start_now` places is left to it: `finish_and_claim` then asks
# `queues.claim_limited` for it. Without that, a backlog in unlimited queues would fill every
# place on every claim, and limited queues would wait until it drained.

# Fenced: a result is written only while the job is still processing under the same run_id.
# In the same statement the claim cannot pick a job being finished: its snapshot still shows
# that job as processing.
_FINISH_CTES = f"""
    r AS (
        SELECT * FROM unnest(
            CAST(:ids AS text[]), CAST(:run_ids AS bigint[]), CAST(:states AS text[]),
            CAST(:exit_codes AS int[]), CAST(:errors AS text[]), CAST(:outputs AS text[]),
            CAST(:truncated AS bool[]), CAST(:durations AS float8[]), CAST(:delays AS float8[])
        ) AS r(id, run_id, state, exit_code, error, output, truncated, duration, delay)
    ), upd AS (
        UPDATE jobs j
        SET state = r.state, exit_code = r.exit_code, error = r.error, output = r.output,
            output_truncated = r.truncated, duration = r.duration, finished_at = now(),
            started_at = coalesce(j.started_at,
                                  now() - coalesce(r.duration, 0) * interval '1 second'),
            updated_at = now(), lease_expires_at = NULL, worker_id = NULL,
            run_at = CASE WHEN r.state = {sql.FAILED}
                          THEN now() + r.delay * interval '1 second' ELSE j.run_at END
        FROM r
        WHERE j.id = r.id AND j.run_id = r.run_id AND j.state = {sql.PROCESSING}
        RETURNING j.id, j.run_id, j.attempts, r.state, r.exit_code, r.duration, j.run_at,
                  j.started_at, j.queue
    ), ins AS (
        INSERT INTO metrics (job_id, run_id, attempt, outcome, exit_code, duration, worker_id,
                             started_at)
        SELECT id, run_id, attempts, state, exit_code, duration, :worker_id, started_at FROM upd
    )"""

_FINISHED_ROWS = """
    SELECT 'finished' AS kind, id, run_id, state, run_at, NULL AS command,
           NULL::int AS attempts, NULL::int AS max_retries, NULL::bigint AS timeout_ms,
           NULL::int AS priority, NULL::int[] AS retry_on, NULL::int[] AS no_retry_on,
           NULL::float8 AS backoff_base, NULL::text AS cwd, NULL::jsonb AS env,
           NULL AS queue, NULL::bigint AS n
    FROM upd"""
_CLAIMED_ROWS = """
    SELECT 'claimed' AS kind, id, run_id, NULL AS state, NULL::timestamptz AS run_at, command,
           attempts, max_retries, timeout_ms, priority, retry_on, no_retry_on, backoff_base,
           cwd, env, queue, n
    FROM claimed
    UNION ALL
    SELECT 'limited', name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL
    FROM limited"""

_CLAIM = sa.text(f"WITH RECURSIVE {_claim_ctes(finishing=False)} {_CLAIMED_ROWS}")
_FINISH = sa.text(f"WITH {_FINISH_CTES} {_FINISHED_ROWS}")
_FINISH_AND_CLAIM = sa.text(
    f"WITH RECURSIVE {_FINISH_CTES}, {_claim_ctes(finishing=True)} {_FINISHED_ROWS} "
    f"UNION ALL {_CLAIMED_ROWS}"
)


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
        return _split(engine, engine.execute(_FINISH, _result_params(results, worker_id)).all())[0]
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
        except sa_exc.SQLAlchemyError as exc:
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
    if results and limit:
        stmt = _FINISH_AND_CLAIM
    elif results:
        stmt = _FINISH
    elif limit:
        stmt = _CLAIM
    else:
        return set(), [], []
    params: dict[str, Any] = (_result_params(results, worker_id) if results
                              else {"worker_id": worker_id})
    params.update(limit=limit, lease=lease_seconds,
                  start_now=limit if start_now is None else start_now,
                  queues=None if queues is None else list(queues))
    with _autocommit(engine).connect() as conn:
        # The worker's hot path: straight to the driver (a prepared statement when the URL
        # allows them). SQLAlchemy's per-call bookkeeping cost as much CPU as the statement,
        # under the same GIL as the threads that spawn jobs.
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor(row_factory=namedtuple_row)
        try:
            rows = _execute(engine, cursor, _compiled(stmt), params)
        except psycopg.Error as exc:
            # A refusal (a trigger's error, say) leaves the connection fine to use again.
            lost = driver.closed or driver.broken or db.is_disconnect(exc)
            if lost:
                conn.connection.invalidate(exc)  # the pool must not hand it out again
            raise sa_exc.DBAPIError.instance(
                _compiled(stmt), params, exc, psycopg.Error, hide_parameters=True,
                connection_invalidated=lost) from exc
        finally:
            cursor.close()
        return _split(conn, rows)


def _execute(engine: sa.Engine, cursor: psycopg.Cursor[Any], sql: str,
             params: dict[str, Any]) -> list[Any]:
    """Run the hot statement, prepared while `engine` may prepare. A prepared-statement error
    (a pooler that does not keep them) executed nothing: stop preparing and run it again."""
    prepare = db.prepares_statements(engine)
    try:
        return cursor.execute(sql, params, prepare=prepare).fetchall()
    except psycopg.Error as exc:
        if not (prepare and db.is_prepared_statement_error(exc)):
            raise
        db.stop_preparing(engine, exc, cursor.connection)
    return cursor.execute(sql, params, prepare=False).fetchall()


_compiled_sql: dict[sa.TextClause, str] = {}


def _compiled(stmt: sa.TextClause) -> str:
    """The statement as psycopg's `%(name)s` SQL text (compiled once)."""
    try:
        return _compiled_sql[stmt]
    except KeyError:
        dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
        text = _compiled_sql[stmt] = str(stmt.compile(dialect=dialect))
        return text


# The fallback when the server refuses a run's result (a trigger's error, say): the simplest
# fenced write there is, without output or metrics, so that the job leaves `processing` and
# its worker (or the leader, for an expired run) goes on. Dead, not failed: a command whose
# outcome could not be recorded is not run again unseen; `dlq retry` runs it again.
_ABANDON = sa.text(
    f"""
    UPDATE jobs SET state = {sql.DEAD}, error = :error, output = NULL, output_truncated = false,
                    finished_at = now(), updated_at = now(), lease_expires_at = NULL,
                    worker_id = NULL, started_at = coalesce(started_at, now())
    WHERE id = :id AND run_id = :run_id AND state = {sql.PROCESSING}
          AND (NOT :expired OR lease_expires_at < now())
    RETURNING id
    """
)


def abandon_run(engine: sa.Engine, *, job_id: str, run_id: int, error: str,
                lease_expired: bool = False) -> bool:
    """Move a job whose run's result the database refused to `dead` with `error`, if the run
    is still current (and, with `lease_expired`, its lease still expired, as for a rescue);
    True if it was."""
    with _autocommit(engine).connect() as conn:
        row = conn.execute(_ABANDON, {"id": job_id, "run_id": run_id, "error": error,
                                      "expired": lease_expired}).first()
    return row is not None


_REQUEUE = sa.text(
    f"""
    UPDATE jobs SET state = {sql.PENDING}, attempts = greatest(attempts - 1, 0), run_at = now(),
                    worker_id = NULL, lease_expires_at = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:run_ids AS bigint[])) AS r(id, run_id)
    WHERE jobs.id = r.id AND jobs.run_id = r.run_id AND jobs.state = {sql.PROCESSING}
    RETURNING jobs.id
    """
)


def requeue_runs(engine: sa.Engine, *, runs: Iterable[tuple[str, int]]) -> list[str]:
    """Put runs that were interrupted by a hard shutdown back to pending, not counted as an
    attempt; returns the job ids put back."""
    runs = list(runs)
    if not runs:
        return []
    with _autocommit(engine).connect() as conn:
        rows = conn.execute(
            _REQUEUE, {"ids": [r[0] for r in runs], "run_ids": [r[1] for r in runs]}
        ).all()
        _notify(conn, None)
    return [r.id for r in rows]
