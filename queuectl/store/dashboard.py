"""Read-only aggregates for `queuectl dashboard` (the web page, its JSON API and /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from queuectl import db
from queuectl.db.models import Job, JobState, WorkerInfo
from queuectl.store import sql
from queuectl.store._common import _LIST_COLUMNS, _counts, _job, _live_within, _workers

__all__ = [
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
    claiming_paused: bool = False


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
    # Per named queue (every queue with jobs or settings, and `default`): jobs per state,
    # and the jobs due now.
    queue_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    queue_depths: dict[str, int] = field(default_factory=dict)


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
    f"""
    SELECT count(*) AS depth, extract(epoch FROM now() - min(run_at)) AS oldest
    FROM jobs WHERE state IN ({sql.CLAIMABLE}) AND run_at <= now()
    """
)

_QUEUE_STATES = sa.text("""
    SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state
    UNION ALL
    SELECT name, NULL, 0 FROM queues""")

_QUEUE_DEPTHS = sa.text(f"""
    SELECT queue, count(*) AS n FROM jobs
    WHERE state IN ({sql.CLAIMABLE}) AND run_at <= now() GROUP BY queue""")

_THROUGHPUT = sa.text(
    f"""
    WITH m AS (
        SELECT date_trunc('minute', finished_at) AS minute,
               count(*) FILTER (WHERE outcome = {sql.COMPLETED}) AS completed,
               count(*) FILTER (WHERE outcome = {sql.FAILED}) AS failed,
               count(*) FILTER (WHERE outcome = {sql.DEAD}) AS dead
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
    f"""
    SELECT avg(duration) AS avg, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) AS p95
    FROM metrics
    WHERE outcome = {sql.COMPLETED} AND duration IS NOT NULL
          AND finished_at >= now() - :n * interval '1 minute'
    """
)

_RUNNING = sa.text(
    f"""
    SELECT id, left(command, 200) AS command, worker_id, started_at
    FROM jobs WHERE state = {sql.PROCESSING} AND started_at IS NOT NULL
    ORDER BY started_at LIMIT :limit
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
            claiming_paused=conn.execute(sa.text(
                "SELECT EXISTS (SELECT 1 FROM switches WHERE name = 'claiming' "
                "AND value = 'paused')")).scalar_one() is True,
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
        counts = {st.value: 0 for st in JobState}
        per_queue: dict[str, dict[str, int]] = {"default": dict(counts)}
        for r in conn.execute(_QUEUE_STATES):
            row = per_queue.setdefault(r.queue, {st.value: 0 for st in JobState})
            if r.state is not None:
                row[r.state] = int(r.n)
                counts[r.state] += int(r.n)
        depths = {name: 0 for name in per_queue}
        depths.update({r.queue: int(r.n) for r in conn.execute(_QUEUE_DEPTHS)})
        outcomes = {"completed": 0, "failed": 0, "dead": 0, "cancelled": 0}
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
        queue_counts=per_queue,
        queue_depths=depths,
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
    before: tuple[datetime, str] | None = None, limit: int = 50, queue: str | None = None,
) -> list[Job]:
    """Up to `limit` jobs, newest first, without their output, created before the
    `before` (created_at, id) cursor, of `queue` when given; `search` matches an id prefix or
    text in the command."""
    states = [state.value] if state is not None else [s.value for s in JobState]
    where, params = "", {"states": states, "limit": limit}
    if before is not None:
        where += " AND (created_at, id) < (:before_at, :before_id)"
        params.update(before_at=before[0], before_id=before[1])
    if queue is not None:
        where += " AND queue = :queue"
        params["queue"] = queue
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where += " AND (id LIKE :prefix OR command ILIKE :contains)"
        params.update(prefix=escaped + "%", contains="%" + escaped + "%")
    columns = ", ".join(c.name for c in _LIST_COLUMNS)
    query = sa.text(_PAGE.format(columns=columns, where=where))
    with db.translate_errors(engine), engine.connect() as conn:
        return [_job(r) for r in conn.execute(query, params)]
