"""Read-only aggregates for `queuectl dashboard` (the web page, its JSON API and /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from queuectl import db
from queuectl.db.models import Job, JobState, WorkerInfo
from queuectl.store import _common
from queuectl.store._common import _counts, _job, _live_within, _workers, fetch
from queuectl.store.statements import control as control_sql
from queuectl.store.statements import dashboard as dashboard_sql

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
DURATION_BUCKETS = dashboard_sql.DURATION_BUCKETS


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
    """Make the store cancel statements on `engine` running longer than `seconds`, so a slow
    database answers with an error instead of holding a request forever. Set per transaction
    (`SET LOCAL`, see `_common.limit_statement_time`), never for the session: behind a
    transaction pooler a session setting would reach other clients of the server connection."""
    _common.limit_statement_time(engine, ms=max(1, int(seconds * 1000)))


def dashboard_overview(
    engine: sa.Engine, *, window_minutes: int = 60, running_limit: int = 500
) -> Overview:
    """Counts, queue depth, oldest waiting age, per-minute outcomes and average/p95 duration
    of completed runs over the window, live workers and (up to `running_limit`) running jobs."""
    with db.translate_errors(engine), engine.connect() as conn:
        counts = _counts(conn)
        [waiting] = fetch(conn, dashboard_sql.job_count_waiting)
        minutes = fetch(conn, dashboard_sql.metric_throughput_by_minute, {"n": window_minutes})
        [durations] = fetch(conn, dashboard_sql.metric_durations_recent, {"n": window_minutes})
        live = _live_within(conn)
        running = fetch(conn, dashboard_sql.job_list_running, {"limit": running_limit})
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
            claiming_paused=fetch(conn, control_sql.switch_claiming_paused)[0].paused is True,
        )


def collect_metrics(engine: sa.Engine) -> MetricsSnapshot:
    """Jobs per state, runs per outcome and their duration histogram (from the metrics table,
    so they drop when `prune` deletes old rows), queue depth, oldest waiting age and the
    number of live workers."""
    with db.translate_errors(engine), engine.connect() as conn:
        counts = {st.value: 0 for st in JobState}
        per_queue: dict[str, dict[str, int]] = {"default": dict(counts)}
        for r in fetch(conn, dashboard_sql.queue_count_by_state):
            row = per_queue.setdefault(r.queue, {st.value: 0 for st in JobState})
            if r.state is not None:
                row[r.state] = int(r.n)
                counts[r.state] += int(r.n)
        depths = {name: 0 for name in per_queue}
        depths.update({r.queue: int(r.n) for r in fetch(conn, dashboard_sql.queue_count_due)})
        outcomes = {"completed": 0, "failed": 0, "dead": 0, "cancelled": 0}
        rows = fetch(conn, dashboard_sql.metric_count_by_outcome)
        outcomes.update({r.outcome: r.n for r in rows})
        [hist] = fetch(conn, dashboard_sql.metric_duration_histogram)
        [waiting] = fetch(conn, dashboard_sql.job_count_waiting)
        live = _live_within(conn)
        [(n_workers,)] = fetch(conn, dashboard_sql.worker_count_live, {"live": live})
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


def page_jobs(
    engine: sa.Engine, *, state: JobState | None = None, search: str | None = None,
    before: tuple[datetime, str] | None = None, limit: int = 50, queue: str | None = None,
) -> list[Job]:
    """Up to `limit` jobs, newest first, without their output, created before the
    `before` (created_at, id) cursor, of `queue` when given; `search` matches an id prefix or
    text in the command."""
    states = [state.value] if state is not None else [s.value for s in JobState]
    escaped = None
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params = {
        "states": states, "limit": limit, "queue": queue,
        "before_at": None if before is None else before[0],
        "before_id": None if before is None else before[1],
        "prefix": None if escaped is None else escaped + "%",
        "contains": None if escaped is None else "%" + escaped + "%",
    }
    with db.translate_errors(engine), engine.connect() as conn:
        return [_job(r) for r in fetch(conn, dashboard_sql.job_page, params, prepare=False)]
