"""Jobs as users see them: enqueue, read, list, count, status, and the DLQ."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import db, errors
from queuectl.core import jobspec
from queuectl.db import models
from queuectl.db.models import Job, JobState, WorkerInfo
from queuectl.store import enqueueing, sql
from queuectl.store._common import (
    _LIST_COLUMNS,
    CLAIMED,
    _config,
    _counts,
    _get_job,
    _job,
    _live_within,
    _notify,
    _with_after,
    _workers,
)

__all__ = [
    "Status",
    "count_states",
    "enqueue_jobs",
    "get_dependencies",
    "get_job",
    "get_jobs",
    "list_jobs",
    "retry_all_dead",
    "retry_dead",
    "status",
]


@dataclass(frozen=True)
class Status:
    """Counts per state, the total, the average completed duration and the live workers."""

    counts: dict[str, int]  # processing: started runs only
    total: int
    avg_duration: float | None
    workers: list[WorkerInfo]
    claimed: int = 0  # processing, claimed ahead by a worker, not started yet


def enqueue_jobs(engine: sa.Engine, *,
                 specs: Sequence[jobspec.JobSpec]) -> list[enqueueing.Enqueued]:
    """Insert all `specs` in one transaction (all or none) and wake idle workers; one result
    per spec: the job created, or the unfinished job that holds its unique_key."""
    with db.translate_errors(engine), engine.begin() as conn:
        return _insert_specs(conn, specs)


def _insert_specs(conn: sa.Connection,
                  specs: Sequence[jobspec.JobSpec]) -> list[enqueueing.Enqueued]:
    """Insert `specs` in the caller's transaction (cron's ticks share it) and NOTIFY idle
    workers at commit; one result per spec, as `enqueue_jobs`."""

    def run(statement: str, params: dict[str, Any]) -> list[Any]:
        try:
            result = conn.execute(_text(statement), params)
        except sa_exc.IntegrityError as exc:
            raise errors.DuplicateJob(sql.duplicate_message(getattr(
                getattr(exc.orig, "diag", None), "message_detail", None))) from None
        return list(result.all()) if result.returns_rows else []

    return enqueueing.insert_jobs(run, specs=specs,
                                  default_retries=_config(conn)["max_retries"])


@functools.cache
def _text(statement: str) -> sa.TextClause:
    return sa.text(sql.for_sqlalchemy(statement))


def get_job(engine: sa.Engine, *, job_id: str) -> Job:
    """The job with id `job_id`, or the only one whose id starts with it."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _get_job(conn, job_id)


def get_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Job]:
    """The jobs with these exact ids, in the order given (missing ones left out)."""
    jobs = models.jobs
    with db.translate_errors(engine), engine.connect() as conn:
        rows = conn.execute(sa.select(jobs).where(jobs.c.id.in_(list(ids)))).all()
        by_id = {j.id: j for j in _with_after(conn, [_job(r) for r in rows])}
    return [by_id[i] for i in ids if i in by_id]


def get_dependencies(engine: sa.Engine, *, job_id: str) -> list[tuple[str, JobState]]:
    """The jobs that job `job_id` runs after (its `after` list) and the state of each."""
    with db.translate_errors(engine), engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT d.depends_on, j.state FROM job_deps d JOIN jobs j ON j.id = d.depends_on "
            "WHERE d.job_id = :id ORDER BY d.depends_on"), {"id": job_id}).all()
    return [(r.depends_on, JobState(r.state)) for r in rows]


def list_jobs(
    engine: sa.Engine, *, state: JobState | None = None, tag: str | None = None,
    search: str | None = None, limit: int = 50, offset: int = 0, queue: str | None = None,
    cron_name: str | None = None,
) -> list[Job]:
    """Jobs, newest first, without their output; filtered by state, tag, queue, id/command
    text and the cron schedule that enqueued them."""
    jobs = models.jobs
    query = sa.select(*_LIST_COLUMNS)
    if state is not None:
        query = query.where(jobs.c.state == state.value)
    if tag is not None:
        # The non-empty condition lets PostgreSQL use the partial GIN index on tags.
        query = query.where(jobs.c.tags.contains([tag]), sa.text("jobs.tags <> '{}'::text[]"))
    if queue is not None:
        query = query.where(jobs.c.queue == queue)
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
    UPDATE jobs SET state = {sql.RELEASE_STATE}, attempts = 0, run_at = now(), updated_at = now()
    WHERE state = {sql.DEAD} {{where}}
    RETURNING id
"""
# `dlq retry --all` leaves dead jobs whose unique_key an unfinished job holds now.
_KEY_FREE = f"""AND NOT EXISTS (SELECT 1 FROM jobs h WHERE h.unique_key = jobs.unique_key
                                AND h.state NOT IN ({sql.FINISHED}))"""
_KEY_TAKEN = sa.text(f"""
    SELECT r.id, r.unique_key, h.id AS holder FROM jobs r
    JOIN jobs h ON h.unique_key = r.unique_key AND h.id <> r.id
               AND h.state NOT IN ({sql.FINISHED})
    WHERE r.id = ANY(:ids) ORDER BY r.id LIMIT 1
""")


def _refuse_taken_keys(conn: sa.Connection, ids: Sequence[str]) -> None:
    """Refuse to give finished jobs another chance while another, unfinished job holds the
    unique_key of one of them (the key would be held twice)."""
    row = conn.execute(_KEY_TAKEN, {"ids": list(ids)}).first()
    if row is not None:
        raise errors.InvalidState(
            f"cannot retry job {row.id}: job {row.holder} holds its unique_key "
            f"{row.unique_key!r} now; nothing was changed")


def _run_retry(conn: sa.Connection, statement: str, params: dict[str, Any]) -> int:
    try:
        return len(conn.execute(sa.text(statement), params).all())
    except sa_exc.IntegrityError:
        raise errors.InvalidState(
            "cannot retry: another job holds the unique_key of one of these jobs now (or two "
            "of them share one); nothing was changed") from None


def retry_dead(engine: sa.Engine, *, job_id: str) -> Job:
    """Put a dead job back to pending (waiting while one of its `after` jobs has not
    completed) with attempts reset and run_at now; its last error stays visible until it runs
    again. Refused while another job holds its unique_key."""
    with db.translate_errors(engine), engine.begin() as conn:
        job = _get_job(conn, job_id)
        if job.state is not JobState.DEAD:
            raise errors.InvalidState(
                f"job {job.id} is {job.state.value}, not dead; only dead jobs can be retried"
            )
        _refuse_taken_keys(conn, [job.id])
        # None moved: a concurrent retry (or the dashboard) moved it first.
        if not _run_retry(conn, _RETRY.format(where="AND id = :id"), {"id": job.id}):
            raise errors.InvalidState(
                f"job {job.id} is no longer dead: another retry moved it back to pending first")
        _notify(conn, None)
        return _get_job(conn, job.id)


def retry_all_dead(engine: sa.Engine) -> int:
    """Put every dead job back to pending (waiting, for one whose `after` jobs have not all
    completed), except those whose unique_key another job holds now; returns how many."""
    with db.translate_errors(engine), engine.begin() as conn:
        n = _run_retry(conn, _RETRY.format(where=_KEY_FREE), {})
        if n:
            _notify(conn, None)
        return n
