"""All of queuectl's SQL. Every function starts with a verb, takes keyword-only arguments after
the engine and returns plain dataclasses or values, never rows.

Single-statement operations on the hot path (claim, finish, heartbeat) run in autocommit mode:
one statement is one transaction and one round trip.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql

from queuectl import backoff, configkeys, db, errors, jobspec, models
from queuectl.models import Job, JobState, WorkerInfo

__all__ = [
    "NOTIFY_CHANNEL",
    "Claimed",
    "RunResult",
    "Status",
    "claim_jobs",
    "count_states",
    "deregister_worker",
    "enqueue_jobs",
    "finish_and_claim",
    "finish_runs",
    "get_job",
    "get_jobs",
    "heartbeat",
    "list_jobs",
    "list_workers",
    "load_config",
    "prune",
    "register_worker",
    "requeue_runs",
    "rescue_expired",
    "retry_all_dead",
    "retry_dead",
    "set_config",
    "set_worker_state",
    "status",
]

NOTIFY_CHANNEL = "queuectl_jobs"
_BATCH = 5000
_LIST_COLUMNS = [c for c in models.jobs.c if c.name not in ("output", "run_id", "lease_expires_at")]


@dataclass(frozen=True)
class Claimed:
    """A job a worker has claimed: `run_id` is the fencing token for this run."""

    id: str
    command: str
    run_id: int
    attempts: int
    max_retries: int
    timeout_ms: int | None


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


@dataclass(frozen=True)
class Status:
    """Counts per state, the total, the average completed duration and the live workers."""

    counts: dict[str, int]
    total: int
    avg_duration: float | None
    workers: list[WorkerInfo]


_autocommit_engines: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = (
    weakref.WeakKeyDictionary()
)


def _autocommit(engine: sa.Engine) -> sa.Engine:
    """The same engine in autocommit mode (one statement = one transaction = one round trip);
    cached because building the option wrapper costs more than the statement on the hot path."""
    try:
        return _autocommit_engines[engine]
    except KeyError:
        auto = _autocommit_engines[engine] = engine.execution_options(
            isolation_level="AUTOCOMMIT")
        return auto


def _job(row: sa.Row) -> Job:
    data = row._asdict()
    data["state"] = JobState(data["state"])
    data["tags"] = list(data.get("tags") or [])
    return Job(**{k: v for k, v in data.items() if k in Job.__dataclass_fields__})


# --- enqueue -------------------------------------------------------------------------------

_INSERT = sa.text(
    """
    INSERT INTO jobs (id, command, max_retries, priority, run_at, timeout_ms, tags)
    SELECT id, command, max_retries, priority, coalesce(run_at, now()), timeout_ms,
           coalesce(CAST(tags AS text[]), '{}')
    FROM unnest(CAST(:ids AS text[]), CAST(:commands AS text[]), CAST(:max_retries AS int[]),
                CAST(:priorities AS int[]), CAST(:run_ats AS timestamptz[]),
                CAST(:timeouts AS bigint[]), CAST(:tags AS text[]))
         AS t(id, command, max_retries, priority, run_at, timeout_ms, tags)
    """
)


def enqueue_jobs(engine: sa.Engine, *, specs: Sequence[jobspec.JobSpec]) -> list[str]:
    """Insert all `specs` in one transaction (all or none) and wake idle workers."""
    with db.translate_errors(engine), engine.begin() as conn:
        default_retries = _config(conn)["max_retries"]
        for start in range(0, len(specs), _BATCH):
            batch = specs[start : start + _BATCH]
            params = {
                "ids": [s.id for s in batch],
                "commands": [s.command for s in batch],
                "max_retries": [
                    default_retries if s.max_retries is None else s.max_retries for s in batch
                ],
                "priorities": [s.priority for s in batch],
                "run_ats": [s.run_at for s in batch],
                "timeouts": [s.timeout_ms for s in batch],
                # A text[] of '{a,b}' literals keeps unnest one-dimensional.
                "tags": [_array_literal(s.tags) for s in batch],
            }
            try:
                conn.execute(_INSERT, params)
            except sa_exc.IntegrityError as exc:
                raise errors.DuplicateJob(_duplicate_message(exc)) from None
        conn.execute(sa.text("SELECT pg_notify(:ch, '')"), {"ch": NOTIFY_CHANNEL})
    return [s.id for s in specs]


def _array_literal(values: list[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _duplicate_message(exc: sa_exc.IntegrityError) -> str:
    detail = getattr(getattr(exc.orig, "diag", None), "message_detail", None) or ""
    match = re.search(r"\(id\)=\((.*)\) already exists", detail, re.S)
    job_id = match.group(1) if match else "?"
    return f"a job with id {job_id!r} already exists; nothing was enqueued"


# --- claim, finish, requeue, rescue ----------------------------------------------------------

# The statements below are composed from these CTEs so that a worker can record finished
# runs and claim new jobs in one round trip (`finish_and_claim`).
_CLAIM_CTES = """
    due AS (
        SELECT id FROM jobs
        WHERE state IN ('pending', 'failed') AND run_at <= now()
        ORDER BY priority DESC, run_at, id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE jobs j
        SET state = 'processing', attempts = j.attempts + 1, run_id = nextval('job_run_id_seq'),
            worker_id = :worker_id, started_at = now(), updated_at = now(),
            lease_expires_at = now() + :lease * interval '1 second'
        FROM due WHERE j.id = due.id
        RETURNING j.id, j.command, j.run_id, j.attempts, j.max_retries, j.timeout_ms, j.priority
    )"""

# Fenced: a result is written only while the job is still processing under the same run_id.
# In the same statement the claim cannot pick a job being finished: its snapshot still shows
# that job as processing.
_FINISH_CTES = """
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
            updated_at = now(), lease_expires_at = NULL, worker_id = NULL,
            run_at = CASE WHEN r.state = 'failed'
                          THEN now() + r.delay * interval '1 second' ELSE j.run_at END
        FROM r
        WHERE j.id = r.id AND j.run_id = r.run_id AND j.state = 'processing'
        RETURNING j.id, j.run_id, j.attempts, r.state, r.exit_code, r.duration, j.run_at,
                  j.started_at
    ), ins AS (
        INSERT INTO metrics (job_id, run_id, attempt, outcome, exit_code, duration, worker_id,
                             started_at)
        SELECT id, run_id, attempts, state, exit_code, duration, :worker_id, started_at FROM upd
    )"""

_FINISHED_ROWS = """
    SELECT 'finished' AS kind, id, run_id, state, run_at, NULL AS command,
           NULL::int AS attempts, NULL::int AS max_retries, NULL::bigint AS timeout_ms,
           NULL::int AS priority
    FROM upd"""
_CLAIMED_ROWS = """
    SELECT 'claimed' AS kind, id, run_id, NULL AS state, NULL::timestamptz AS run_at, command,
           attempts, max_retries, timeout_ms, priority
    FROM claimed"""

_CLAIM = sa.text(f"WITH {_CLAIM_CTES} {_CLAIMED_ROWS}")
_FINISH = sa.text(f"WITH {_FINISH_CTES} {_FINISHED_ROWS}")
_FINISH_AND_CLAIM = sa.text(
    f"WITH {_FINISH_CTES}, {_CLAIM_CTES} {_FINISHED_ROWS} UNION ALL {_CLAIMED_ROWS}"
)


def _result_params(results: Sequence[RunResult], worker_id: int | None) -> dict:
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


def _split(conn: sa.Connection, rows: Sequence[sa.Row]) -> tuple[set[tuple[str, int]],
                                                                 list[Claimed]]:
    written = {(r.id, r.run_id) for r in rows if r.kind == "finished"}
    retry_at = [r.run_at for r in rows if r.kind == "finished" and r.state == "failed"]
    if retry_at:
        _notify(conn, min(retry_at))  # idle workers wake when the earliest retry is due
    claimed = sorted((r for r in rows if r.kind == "claimed"), key=lambda r: (-r.priority, r.id))
    return written, [
        Claimed(r.id, r.command, r.run_id, r.attempts, r.max_retries, r.timeout_ms)
        for r in claimed
    ]


def claim_jobs(
    engine: sa.Engine, *, worker_id: int, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Claim up to `limit` due jobs (priority, then run_at, then id) in one statement."""
    return finish_and_claim(engine, results=[], worker_id=worker_id, limit=limit,
                            lease_seconds=lease_seconds)[1]


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
    lease_seconds: float,
) -> tuple[set[tuple[str, int]], list[Claimed]]:
    """Record `results` (fenced, as `finish_runs`) and claim up to `limit` due jobs, in one
    statement and one round trip; returns (runs written, jobs claimed)."""
    limit = max(0, limit)
    if results and limit:
        stmt = _FINISH_AND_CLAIM
    elif results:
        stmt = _FINISH
    elif limit:
        stmt = _CLAIM
    else:
        return set(), []
    params = _result_params(results, worker_id) if results else {"worker_id": worker_id}
    params.update(limit=limit, lease=lease_seconds)
    with _autocommit(engine).connect() as conn:
        # The worker's hot path: straight to the driver, as a prepared statement. SQLAlchemy's
        # per-call bookkeeping cost as much CPU as the statement, under the same GIL as the
        # threads that spawn jobs.
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor(row_factory=namedtuple_row)
        try:
            rows = cursor.execute(_compiled(stmt), params, prepare=True).fetchall()
        except psycopg.Error as exc:
            lost = isinstance(exc, psycopg.OperationalError)
            if lost:
                conn.connection.invalidate(exc)  # the pool must not hand it out again
            raise sa_exc.DBAPIError.instance(
                _compiled(stmt), params, exc, psycopg.Error, hide_parameters=True,
                connection_invalidated=lost) from exc
        finally:
            cursor.close()
        return _split(conn, rows)


_compiled_sql: dict[sa.TextClause, str] = {}


def _compiled(stmt: sa.TextClause) -> str:
    """The statement as psycopg's `%(name)s` SQL text (compiled once)."""
    try:
        return _compiled_sql[stmt]
    except KeyError:
        sql = _compiled_sql[stmt] = str(stmt.compile(dialect=postgresql.psycopg.dialect()))
        return sql


def _notify(conn: sa.Connection, due: datetime | None) -> None:
    payload = "" if due is None else f"{due.timestamp():.6f}"
    conn.execute(sa.text("SELECT pg_notify(:ch, :p)"), {"ch": NOTIFY_CHANNEL, "p": payload})


_REQUEUE = sa.text(
    """
    UPDATE jobs SET state = 'pending', attempts = greatest(attempts - 1, 0), run_at = now(),
                    worker_id = NULL, lease_expires_at = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:run_ids AS bigint[])) AS r(id, run_id)
    WHERE jobs.id = r.id AND jobs.run_id = r.run_id AND jobs.state = 'processing'
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


_EXPIRED = sa.text(
    """
    SELECT j.id, j.run_id, j.attempts, j.max_retries, j.worker_id, w.host, w.pid,
           extract(epoch FROM now() - j.started_at) AS ran_for
    FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
    WHERE j.state = 'processing' AND j.lease_expires_at < now()
    ORDER BY j.lease_expires_at
    LIMIT :limit
    FOR UPDATE OF j SKIP LOCKED
    """
)


def rescue_expired(
    engine: sa.Engine, *, policy: backoff.Policy, stale_after: float, limit: int = 500
) -> list[str]:
    """Fail the runs whose lease expired ("worker lost"), following the retry/DLQ rules, and
    drop worker registrations that stopped heartbeating; returns the rescued job ids."""
    with engine.begin() as conn:
        rows = conn.execute(_EXPIRED, {"limit": limit}).all()
        results = []
        for r in rows:
            state, delay = backoff.after_failure(
                policy, attempts=r.attempts, max_retries=r.max_retries
            )
            who = f"worker {r.worker_id} (pid {r.pid} on {r.host})" if r.host else "its worker"
            results.append(
                RunResult(
                    job_id=r.id, run_id=r.run_id, state=state, exit_code=None,
                    error=f"worker lost: {who} stopped heartbeating; the run was abandoned",
                    output=None, output_truncated=False, duration=r.ran_for, retry_delay=delay,
                )
            )
        written = finish_runs(conn, results=results, worker_id=None)
        conn.execute(
            sa.text("DELETE FROM workers WHERE heartbeat_at < now() - :s * interval '1 second'"),
            {"s": stale_after},
        )
        if written:
            _notify(conn, None)
    return sorted(job_id for job_id, _ in written)


# --- workers ------------------------------------------------------------------------------


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
    """
    WITH w AS (
        UPDATE workers SET heartbeat_at = now(), state = :state WHERE id = :worker_id
        RETURNING id
    ), leases AS (
        UPDATE jobs SET lease_expires_at = now() + :lease * interval '1 second'
        WHERE state = 'processing' AND worker_id = :worker_id
              AND run_id = ANY(CAST(:run_ids AS bigint[]))
        RETURNING run_id
    ), phantom AS (
        -- Claimed by this worker, but it never learned so (the connection died before the
        -- claim's answer arrived): put back uncounted rather than rescue it as a lost run.
        UPDATE jobs SET state = 'pending', attempts = greatest(attempts - 1, 0), run_at = now(),
                        worker_id = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE state = 'processing' AND worker_id = :worker_id
              AND run_id <> ALL(CAST(:run_ids AS bigint[]))
        RETURNING id
    )
    SELECT (SELECT count(*) FROM w) AS registered, (SELECT array_agg(run_id) FROM leases) AS held
    """
)


def heartbeat(
    engine: sa.Engine, *, worker_id: int, run_ids: Sequence[int], lease_seconds: float,
    state: str = "running",
) -> tuple[bool, set[int]]:
    """Prove the worker is alive and extend the leases of its runs; returns whether the
    registration still exists and which runs it still holds. `run_ids` must name every run
    the worker holds (running or with a result not yet written): its other processing jobs
    are claims whose answer was lost, and go back to pending without counting the attempt."""
    with _autocommit(engine).connect() as conn:
        row = conn.execute(
            _HEARTBEAT,
            {"worker_id": worker_id, "run_ids": list(run_ids), "lease": lease_seconds,
             "state": state},
        ).one()
    return bool(row.registered), set(row.held or [])


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


_WORKERS = sa.text(
    """
    SELECT w.id, w.host, w.pid, w.version, w.concurrency, w.state, w.started_at,
           w.heartbeat_at,
           coalesce((SELECT array_agg(j.id ORDER BY j.started_at) FROM jobs j
                     WHERE j.state = 'processing' AND j.worker_id = w.id), '{}') AS running
    FROM workers w
    WHERE w.heartbeat_at >= now() - :live * interval '1 second'
    ORDER BY w.host, w.pid
    """
)


def list_workers(engine: sa.Engine, *, live_within: float) -> list[WorkerInfo]:
    """Workers that heartbeated within `live_within` seconds, with the jobs they run."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _workers(conn, live_within)


def _live_within(conn: sa.Connection) -> float:
    """A worker counts as live while it has missed fewer than three heartbeats (and never
    longer than its lease)."""
    config = _config(conn)
    return min(3 * float(config["heartbeat_interval"]), float(config["lease_timeout"]))


def _workers(conn: sa.Connection, live_within: float) -> list[WorkerInfo]:
    rows = conn.execute(_WORKERS, {"live": live_within}).all()
    return [WorkerInfo(**{**r._asdict(), "running": list(r.running)}) for r in rows]


# --- reading jobs -----------------------------------------------------------------------------


def get_job(engine: sa.Engine, *, job_id: str) -> Job:
    """The job with id `job_id`, or the only one whose id starts with it."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _get_job(conn, job_id)


def _get_job(conn: sa.Connection, job_id: str) -> Job:
    jobs = models.jobs
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
    if row is not None:
        return _job(row)
    pattern = job_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches = conn.execute(
        sa.select(jobs.c.id).where(jobs.c.id.like(pattern, escape="\\")).order_by(jobs.c.id)
        .limit(6)
    ).scalars().all()
    if not matches:
        raise errors.JobNotFound(f"no job with id or id prefix {job_id!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise errors.AmbiguousId(f"id prefix {job_id!r} matches several jobs: {shown}")
    row = conn.execute(sa.select(jobs).where(jobs.c.id == matches[0])).one()
    return _job(row)


def get_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Job]:
    """The jobs with these exact ids, in the order given (missing ones left out)."""
    jobs = models.jobs
    with db.translate_errors(engine), engine.connect() as conn:
        rows = conn.execute(sa.select(jobs).where(jobs.c.id.in_(list(ids)))).all()
    by_id = {r.id: _job(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def list_jobs(
    engine: sa.Engine, *, state: JobState | None = None, tag: str | None = None,
    search: str | None = None, limit: int = 50, offset: int = 0,
) -> list[Job]:
    """Jobs, newest first, without their output; filtered by state, tag and id/command text."""
    jobs = models.jobs
    query = sa.select(*_LIST_COLUMNS)
    if state is not None:
        query = query.where(jobs.c.state == state.value)
    if tag is not None:
        # The non-empty condition lets PostgreSQL use the partial GIN index on tags.
        query = query.where(jobs.c.tags.contains([tag]), sa.text("jobs.tags <> '{}'::text[]"))
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(jobs.c.id.like(like, escape="\\"), jobs.c.command.ilike(like, escape="\\"))
        )
    query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit).offset(offset)
    with db.translate_errors(engine), engine.connect() as conn:
        return [_job(r) for r in conn.execute(query)]


def count_states(engine: sa.Engine) -> dict[str, int]:
    """Number of jobs in each state (every state present, zero when empty)."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _counts(conn)


def _counts(conn: sa.Connection) -> dict[str, int]:
    counts = {s.value: 0 for s in JobState}
    rows = conn.execute(sa.text("SELECT state, count(*) AS n FROM jobs GROUP BY state"))
    counts.update({r.state: r.n for r in rows})
    return counts


def status(engine: sa.Engine) -> Status:
    """Counts per state, total, average duration of completed runs, live workers."""
    with db.translate_errors(engine), engine.connect() as conn:
        counts = _counts(conn)
        avg = conn.execute(
            sa.text("SELECT avg(duration) FROM metrics WHERE outcome = 'completed'")
        ).scalar()
        return Status(counts, sum(counts.values()), avg, _workers(conn, _live_within(conn)))


# --- DLQ ------------------------------------------------------------------------------------

_RETRY = """
    UPDATE jobs SET state = 'pending', attempts = 0, run_at = now(), updated_at = now()
    WHERE state = 'dead' {where}
    RETURNING id
"""


def retry_dead(engine: sa.Engine, *, job_id: str) -> Job:
    """Put a dead job back to pending with attempts reset and run_at now; its last error
    stays visible until it runs again."""
    with db.translate_errors(engine), engine.begin() as conn:
        job = _get_job(conn, job_id)
        if job.state is not JobState.DEAD:
            raise errors.InvalidState(
                f"job {job.id} is {job.state.value}, not dead; only dead jobs can be retried"
            )
        conn.execute(sa.text(_RETRY.format(where="AND id = :id")), {"id": job.id})
        _notify(conn, None)
        return _get_job(conn, job.id)


def retry_all_dead(engine: sa.Engine) -> int:
    """Put every dead job back to pending; returns how many."""
    with db.translate_errors(engine), engine.begin() as conn:
        n = len(conn.execute(sa.text(_RETRY.format(where=""))).all())
        if n:
            _notify(conn, None)
        return n


# --- config ---------------------------------------------------------------------------------


def _config(conn: sa.Connection) -> dict[str, Any]:
    values = configkeys.defaults()
    for row in conn.execute(sa.select(models.config.c.key, models.config.c.value)):
        if row.key in values:
            values[row.key] = configkeys.parse_stored(row.key, row.value)
    return values


def load_config(engine: sa.Engine) -> dict[str, Any]:
    """Every config key with its stored value, or its default."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _config(conn)


def set_config(engine: sa.Engine, *, key: str, value: float | int | None) -> None:
    """Store a validated value for `key` (see `configkeys.parse`)."""
    stmt = postgresql.insert(models.config).values(
        key=key, value=configkeys.format_value(value)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"], set_={"value": stmt.excluded.value, "updated_at": sa.func.now()}
    )
    with db.translate_errors(engine), engine.begin() as conn:
        conn.execute(stmt)


# --- retention ------------------------------------------------------------------------------


_PRUNE_LOCK = 0x71756576  # advisory lock: one pruner at a time across the fleet
_PRUNE_BATCH = 10_000


def prune(engine: sa.Engine, *, older_than: float, wait: bool = True) -> tuple[int, int] | None:
    """Delete completed and dead jobs finished, and metrics recorded, more than `older_than`
    seconds ago, in batches so no lock is held long; returns (jobs, metrics) deleted, or None
    when `wait` is False and another process is pruning."""
    params = {"s": older_than, "n": _PRUNE_BATCH}
    totals = [0, 0]
    statements = (
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('completed', 'dead')"
        " AND finished_at < now() - :s * interval '1 second' LIMIT :n)",
        "DELETE FROM metrics WHERE id IN (SELECT id FROM metrics"
        " WHERE finished_at < now() - :s * interval '1 second' LIMIT :n)",
    )
    with db.translate_errors(engine), engine.connect() as conn:
        lock = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        if conn.execute(sa.text(f"SELECT {lock}(:k)"), {"k": _PRUNE_LOCK}).scalar() is False:
            conn.rollback()
            return None
        conn.commit()
        try:
            for i, statement in enumerate(statements):
                while True:
                    deleted = conn.execute(sa.text(statement), params).rowcount
                    conn.commit()
                    totals[i] += deleted
                    if deleted < _PRUNE_BATCH:
                        break
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PRUNE_LOCK})
            conn.commit()
    return totals[0], totals[1]


# --- dashboard queries ---
# Read-only aggregates for `queuectl dashboard` (the web page, its JSON API and /metrics).
# Kept in one section so the rest of the store stays about the job lifecycle.

# Appended rather than merged into the list at the top, so this section stays self-contained.
__all__ += [
    "MetricsSnapshot",
    "MinuteStat",
    "Overview",
    "RunningJob",
    "collect_metrics",
    "dashboard_overview",
    "limit_statement_time",
    "page_jobs",
]

#: Upper bounds (seconds) of the run-duration histogram buckets exported on /metrics.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                    3600.0)


@dataclass(frozen=True)
class MinuteStat:
    """Runs that finished in one minute, by outcome."""

    minute: datetime
    completed: int
    failed: int
    dead: int


@dataclass(frozen=True)
class RunningJob:
    """A job being processed now, and by which worker (command cut to 200 characters)."""

    id: str
    command: str
    worker_id: int | None
    started_at: datetime | None


@dataclass(frozen=True)
class Overview:
    """What the dashboard's overview shows; durations and ages are in seconds, and the
    window figures cover the last `window_minutes` minutes of the metrics table."""

    counts: dict[str, int]
    total: int
    queue_depth: int
    oldest_waiting_age: float | None
    window_minutes: int
    throughput: list[MinuteStat]
    avg_duration: float | None
    p95_duration: float | None
    workers: list[WorkerInfo]
    running: list[RunningJob]


@dataclass(frozen=True)
class MetricsSnapshot:
    """Everything /metrics exports, read in one go at scrape time. `duration_buckets` holds
    cumulative counts for each bound in DURATION_BUCKETS."""

    counts: dict[str, int]
    outcomes: dict[str, int]
    duration_buckets: list[tuple[float, int]]
    duration_sum: float
    duration_count: int
    queue_depth: int
    oldest_waiting_age: float | None
    live_workers: int


def limit_statement_time(engine: sa.Engine, *, seconds: float) -> None:
    """Make every new connection of `engine` cancel statements running longer than `seconds`,
    so a slow database answers with an error instead of holding a request forever."""
    ms = max(1, int(seconds * 1000))

    @sa.event.listens_for(engine, "connect")
    def _set_timeout(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET statement_timeout = {ms}")
        dbapi_conn.commit()


_WAITING = sa.text(
    """
    SELECT count(*) AS depth, extract(epoch FROM now() - min(run_at)) AS oldest
    FROM jobs WHERE state IN ('pending', 'failed') AND run_at <= now()
    """
)

_THROUGHPUT = sa.text(
    """
    WITH m AS (
        SELECT date_trunc('minute', finished_at) AS minute,
               count(*) FILTER (WHERE outcome = 'completed') AS completed,
               count(*) FILTER (WHERE outcome = 'failed') AS failed,
               count(*) FILTER (WHERE outcome = 'dead') AS dead
        FROM metrics
        WHERE finished_at >= date_trunc('minute', now()) - (:n - 1) * interval '1 minute'
        GROUP BY 1
    )
    SELECT s.minute, coalesce(m.completed, 0) AS completed, coalesce(m.failed, 0) AS failed,
           coalesce(m.dead, 0) AS dead
    FROM generate_series(date_trunc('minute', now()) - (:n - 1) * interval '1 minute',
                         date_trunc('minute', now()), interval '1 minute') AS s(minute)
    LEFT JOIN m ON m.minute = s.minute
    ORDER BY s.minute
    """
)

_DURATIONS = sa.text(
    """
    SELECT avg(duration) AS avg, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) AS p95
    FROM metrics
    WHERE outcome = 'completed' AND duration IS NOT NULL
          AND finished_at >= now() - :n * interval '1 minute'
    """
)

_RUNNING = sa.text(
    """
    SELECT id, left(command, 200) AS command, worker_id, started_at
    FROM jobs WHERE state = 'processing' ORDER BY started_at LIMIT :limit
    """
)


def dashboard_overview(
    engine: sa.Engine, *, window_minutes: int = 60, running_limit: int = 500
) -> Overview:
    """Counts, queue depth, oldest waiting age, per-minute outcomes and average/p95 duration
    of completed runs over the window, live workers and (up to `running_limit`) running jobs."""
    with db.translate_errors(engine), engine.connect() as conn:
        counts = _counts(conn)
        waiting = conn.execute(_WAITING).one()
        minutes = conn.execute(_THROUGHPUT, {"n": window_minutes}).all()
        durations = conn.execute(_DURATIONS, {"n": window_minutes}).one()
        live = _live_within(conn)
        running = conn.execute(_RUNNING, {"limit": running_limit}).all()
        return Overview(
            counts=counts,
            total=sum(counts.values()),
            queue_depth=int(waiting.depth),
            oldest_waiting_age=None if waiting.oldest is None else float(waiting.oldest),
            window_minutes=window_minutes,
            throughput=[MinuteStat(r.minute, r.completed, r.failed, r.dead) for r in minutes],
            avg_duration=None if durations.avg is None else float(durations.avg),
            p95_duration=None if durations.p95 is None else float(durations.p95),
            workers=_workers(conn, live),
            running=[RunningJob(r.id, r.command, r.worker_id, r.started_at) for r in running],
        )


# The bucket bounds are our own constants, never user input, so they are inlined.
_HISTOGRAM = sa.text(
    "SELECT "
    + ", ".join(f"count(*) FILTER (WHERE duration <= {b!r}) AS b{i}"
                for i, b in enumerate(DURATION_BUCKETS))
    + ", coalesce(sum(duration), 0) AS total, count(*) AS n"
    " FROM metrics WHERE duration IS NOT NULL"
)

_LIVE_WORKERS = sa.text(
    "SELECT count(*) FROM workers WHERE heartbeat_at >= now() - :live * interval '1 second'"
)


def collect_metrics(engine: sa.Engine) -> MetricsSnapshot:
    """Jobs per state, runs per outcome and their duration histogram (from the metrics table,
    so they drop when `prune` deletes old rows), queue depth, oldest waiting age and the
    number of live workers."""
    with db.translate_errors(engine), engine.connect() as conn:
        counts = _counts(conn)
        outcomes = {"completed": 0, "failed": 0, "dead": 0}
        rows = conn.execute(
            sa.text("SELECT outcome, count(*) AS n FROM metrics GROUP BY outcome")
        )
        outcomes.update({r.outcome: r.n for r in rows})
        hist = conn.execute(_HISTOGRAM).one()
        waiting = conn.execute(_WAITING).one()
        live = _live_within(conn)
        n_workers = conn.execute(_LIVE_WORKERS, {"live": live}).scalar_one()
    return MetricsSnapshot(
        counts=counts,
        outcomes=outcomes,
        duration_buckets=[(b, int(hist[i])) for i, b in enumerate(DURATION_BUCKETS)],
        duration_sum=float(hist.total),
        duration_count=int(hist.n),
        queue_depth=int(waiting.depth),
        oldest_waiting_age=None if waiting.oldest is None else float(waiting.oldest),
        live_workers=int(n_workers),
    )


# One index scan per state on ix_jobs_state_created, merged: a page costs the same with a
# million jobs as with ten, and the cursor (created_at, id) keeps pages stable while jobs
# are added.
_PAGE = """
    SELECT j.* FROM unnest(CAST(:states AS text[])) AS s(state)
    CROSS JOIN LATERAL (
        SELECT {columns} FROM jobs
        WHERE jobs.state = s.state {where}
        ORDER BY created_at DESC, id DESC
        LIMIT :limit
    ) AS j
    ORDER BY j.created_at DESC, j.id DESC
    LIMIT :limit
"""


def page_jobs(
    engine: sa.Engine, *, state: JobState | None = None, search: str | None = None,
    before: tuple[datetime, str] | None = None, limit: int = 50,
) -> list[Job]:
    """Up to `limit` jobs, newest first, without their output, created before the
    `before` (created_at, id) cursor; `search` matches an id prefix or text in the command."""
    states = [state.value] if state is not None else [s.value for s in JobState]
    where, params = "", {"states": states, "limit": limit}
    if before is not None:
        where += " AND (created_at, id) < (:before_at, :before_id)"
        params.update(before_at=before[0], before_id=before[1])
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where += " AND (id LIKE :prefix OR command ILIKE :contains)"
        params.update(prefix=escaped + "%", contains="%" + escaped + "%")
    columns = ", ".join(c.name for c in _LIST_COLUMNS)
    query = sa.text(_PAGE.format(columns=columns, where=where))
    with db.translate_errors(engine), engine.connect() as conn:
        return [_job(r) for r in conn.execute(query, params)]
