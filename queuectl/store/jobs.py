"""Jobs as users see them: enqueue, read, list, count, status, and the DLQ."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import db, errors, jobspec, models
from queuectl.models import Job, JobState, WorkerInfo
from queuectl.store import sql
from queuectl.store._common import (
    _LIST_COLUMNS,
    CLAIMED,
    _config,
    _counts,
    _get_job,
    _job,
    _live_within,
    _notify,
    _workers,
)

__all__ = [
    "Status",
    "count_states",
    "enqueue_jobs",
    "get_job",
    "get_jobs",
    "list_jobs",
    "retry_all_dead",
    "retry_dead",
    "status",
]


_BATCH = 5000


@dataclass(frozen=True)
class Status:
    """Counts per state, the total, the average completed duration and the live workers."""

    counts: dict[str, int]  # processing: started runs only
    total: int
    avg_duration: float | None
    workers: list[WorkerInfo]
    claimed: int = 0  # processing, claimed ahead by a worker, not started yet


_INSERT = sa.text(sql.for_sqlalchemy(sql.INSERT_JOBS))


def enqueue_jobs(engine: sa.Engine, *, specs: Sequence[jobspec.JobSpec]) -> list[str]:
    """Insert all `specs` in one transaction (all or none) and wake idle workers."""
    with db.translate_errors(engine), engine.begin() as conn:
        _insert_specs(conn, specs)
    return [s.id for s in specs]


def _insert_specs(conn: sa.Connection, specs: Sequence[jobspec.JobSpec]) -> None:
    """Insert `specs` (in the caller's transaction) and NOTIFY idle workers at commit."""
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
            "tags": [sql.array_literal(s.tags) for s in batch],
        }
        try:
            conn.execute(_INSERT, params)
        except sa_exc.IntegrityError as exc:
            raise errors.DuplicateJob(sql.duplicate_message(
                getattr(getattr(exc.orig, "diag", None), "message_detail", None))) from None
    _wake_for(conn, specs)


def _wake_for(conn: sa.Connection, specs: Sequence[jobspec.JobSpec]) -> None:
    """NOTIFY idle workers (see `sql.wake_payloads`)."""
    for payload in sql.wake_payloads(specs):
        conn.execute(sa.text("SELECT pg_notify(:ch, :p)"), {"ch": sql.NOTIFY_CHANNEL, "p": payload})


def get_job(engine: sa.Engine, *, job_id: str) -> Job:
    """The job with id `job_id`, or the only one whose id starts with it."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _get_job(conn, job_id)


def get_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Job]:
    """The jobs with these exact ids, in the order given (missing ones left out)."""
    jobs = models.jobs
    with db.translate_errors(engine), engine.connect() as conn:
        rows = conn.execute(sa.select(jobs).where(jobs.c.id.in_(list(ids)))).all()
    by_id = {r.id: _job(r) for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def list_jobs(
    engine: sa.Engine, *, state: JobState | None = None, tag: str | None = None,
    search: str | None = None, limit: int = 50, offset: int = 0, cron_name: str | None = None,
) -> list[Job]:
    """Jobs, newest first, without their output; filtered by state, tag, id/command text and
    the cron schedule that enqueued them."""
    jobs = models.jobs
    query = sa.select(*_LIST_COLUMNS)
    if state is not None:
        query = query.where(jobs.c.state == state.value)
    if tag is not None:
        # The non-empty condition lets PostgreSQL use the partial GIN index on tags.
        query = query.where(jobs.c.tags.contains([tag]), sa.text("jobs.tags <> '{}'::text[]"))
    if cron_name is not None:
        query = query.where(jobs.c.cron_name == cron_name)
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


def status(engine: sa.Engine) -> Status:
    """Counts per state, total, average duration of completed runs, live workers."""
    with db.translate_errors(engine), engine.connect() as conn:
        counts = _counts(conn, split_claimed=True)
        claimed = counts.pop(CLAIMED)
        avg = conn.execute(
            sa.text(f"SELECT avg(duration) FROM metrics WHERE outcome = {sql.COMPLETED}")
        ).scalar()
        return Status(counts, sum(counts.values()) + claimed, avg,
                      _workers(conn, _live_within(conn)), claimed)


# --- DLQ ------------------------------------------------------------------------------------

_RETRY = f"""
    UPDATE jobs SET state = {sql.PENDING}, attempts = 0, run_at = now(), updated_at = now()
    WHERE state = {sql.DEAD} {{where}}
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
        moved = conn.execute(sa.text(_RETRY.format(where="AND id = :id")), {"id": job.id})
        if not moved.all():  # a concurrent retry (or the dashboard) moved it first
            raise errors.InvalidState(
                f"job {job.id} is no longer dead: another retry moved it back to pending first")
        _notify(conn, None)
        return _get_job(conn, job.id)


def retry_all_dead(engine: sa.Engine) -> int:
    """Put every dead job back to pending; returns how many."""
    with db.translate_errors(engine), engine.begin() as conn:
        n = len(conn.execute(sa.text(_RETRY.format(where=""))).all())
        if n:
            _notify(conn, None)
        return n
