"""Jobs as users see them: enqueue, read, list, count, status, and the DLQ."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import db, errors
from queuectl.core import deps, jobspec
from queuectl.db.models import Job, JobState
from queuectl.store import enqueueing, reads, sql
from queuectl.store._common import (
    _config,
    _counts,
    _get_job,
    _job,
    _notify,
    _with_after,
    fetch,
)
from queuectl.store.reads import Status
from queuectl.store.statements import Statement
from queuectl.store.statements import jobs as jobs_sql

__all__ = [
    "Status",
    "count_states",
    "enqueue_jobs",
    "get_dependencies",
    "get_job",
    "get_jobs",
    "list_dead_jobs",
    "list_jobs",
    "retry_all_dead",
    "retry_dead",
    "status",
]


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

    def run(statement: Statement, params: Mapping[str, Any] | None) -> list[Any]:
        try:
            return fetch(conn, statement, params)
        except sa_exc.IntegrityError as exc:
            raise errors.DuplicateJob(sql.duplicate_message(getattr(
                getattr(exc.orig, "diag", None), "message_detail", None))) from None

    return enqueueing.insert_jobs(run, specs=specs,
                                  default_retries=_config(conn)["max_retries"])


def get_job(engine: sa.Engine, *, job_id: str) -> Job:
    """The job with id `job_id`, or the only one whose id starts with it."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _get_job(conn, job_id)


def get_jobs(engine: sa.Engine, *, ids: Sequence[str]) -> list[Job]:
    """The jobs with these exact ids, in the order given (missing ones left out)."""
    with db.translate_errors(engine), engine.connect() as conn:
        rows = fetch(conn, jobs_sql.job_get_many, {"ids": list(ids)})
        by_id = {j.id: j for j in _with_after(conn, [_job(r) for r in rows])}
    return [by_id[i] for i in ids if i in by_id]


def get_dependencies(engine: sa.Engine, *, job_id: str) -> list[tuple[str, JobState]]:
    """The jobs that job `job_id` runs after (its `after` list) and the state of each."""
    with db.translate_errors(engine), engine.connect() as conn:
        rows = fetch(conn, jobs_sql.job_dependencies, {"id": job_id})
    return [(r.depends_on, JobState(r.state)) for r in rows]


def list_jobs(
    engine: sa.Engine, *, state: JobState | None = None, tag: str | None = None,
    search: str | None = None, limit: int = 50, offset: int = 0, queue: str | None = None,
    cron_name: str | None = None,
) -> list[Job]:
    """Jobs, newest first, without their output; filtered by state, tag, queue, id/command
    text and the cron schedule that enqueued them."""
    like = None
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params = {"state": None if state is None else state.value, "tag": tag, "queue": queue,
              "cron_name": cron_name, "like": like, "limit": limit, "offset": offset}
    with db.translate_errors(engine), engine.connect() as conn:
        # Unprepared: each call is planned with its filters, the unused ones folded away.
        return [_job(r) for r in fetch(conn, jobs_sql.job_list, params, prepare=False)]


def list_dead_jobs(engine: sa.Engine, *, limit: int = 100) -> list[Job]:
    """Dead jobs, the latest death (finish time) first, without their output."""
    with db.translate_errors(engine), engine.connect() as conn:
        return [_job(r) for r in fetch(conn, jobs_sql.job_list_dead, {"limit": limit})]


def count_states(engine: sa.Engine) -> dict[str, int]:
    """Number of jobs in each state (every state present, zero when empty)."""
    with db.translate_errors(engine), engine.connect() as conn:
        return _counts(conn)


def status(engine: sa.Engine) -> Status:
    """Counts per state, total, average duration of completed runs, live workers."""
    with db.translate_errors(engine), engine.connect() as conn:
        return reads.status(functools.partial(fetch, conn))


# --- DLQ ------------------------------------------------------------------------------------

def _refuse_taken_keys(conn: sa.Connection, ids: Sequence[str]) -> None:
    """Refuse to give finished jobs another chance while another, unfinished job holds the
    unique_key of one of them (the key would be held twice)."""
    for row in fetch(conn, jobs_sql.job_unique_key_taken_many, {"ids": list(ids)}):
        raise errors.InvalidState(
            f"cannot retry job {row.id}: job {row.holder} holds its unique_key "
            f"{row.unique_key!r} now; nothing was changed")


def _after_locked(conn: sa.Connection, ids: Sequence[str]) -> deps.After:
    """The `after` jobs of these jobs with their states, locked until the caller commits."""
    after: dict[str, list[tuple[str, JobState]]] = {}
    for row in fetch(conn, jobs_sql.job_dependencies_locked_many, {"ids": list(ids)}):
        after.setdefault(row.job_id, []).append((row.depends_on, JobState(row.state)))
    return after


def _retry_states(conn: sa.Connection, ids: Sequence[str]) -> dict[str, JobState]:
    """The state each of these finished jobs, retried together, goes back to (see
    `deps.retry_states`); refused (`errors.InvalidState`) when one would wait for ever on a
    dead or cancelled job that is not retried with it. Locks their `after` jobs."""
    after = _after_locked(conn, ids)
    blocked = deps.retry_blocker(ids, after)
    if blocked is not None:
        raise errors.InvalidState(blocked.message())
    return deps.retry_states(ids, after)


def _run_retry(conn: sa.Connection, states: Mapping[str, JobState]) -> int:
    try:
        return len(fetch(conn, jobs_sql.job_retry_dead_many, {
            "ids": list(states), "states": [s.value for s in states.values()]}))
    except sa_exc.IntegrityError:
        raise errors.InvalidState(
            "cannot retry: another job holds the unique_key of one of these jobs now (or two "
            "of them share one); nothing was changed") from None


def retry_dead(engine: sa.Engine, *, job_id: str) -> Job:
    """Put a dead job back to pending (waiting while one of its `after` jobs has not
    completed) with attempts reset and run_at now; its last error stays visible until it runs
    again. Refused while another job holds its unique_key, or while one of its `after` jobs
    is dead or cancelled (it would wait for ever)."""
    with db.translate_errors(engine), engine.begin() as conn:
        job = _get_job(conn, job_id)
        if job.state is not JobState.DEAD:
            raise errors.InvalidState(
                f"job {job.id} is {job.state.value}, not dead; only dead jobs can be retried"
            )
        _refuse_taken_keys(conn, [job.id])
        # None moved: a concurrent retry (or the dashboard) moved it first.
        if not _run_retry(conn, _retry_states(conn, [job.id])):
            raise errors.InvalidState(
                f"job {job.id} is no longer dead: another retry moved it back to pending first")
        _notify(conn, None)
        return _get_job(conn, job.id)


def retry_all_dead(engine: sa.Engine) -> int:
    """Put every dead job back to pending (waiting, for one whose `after` jobs have not all
    completed), except those whose unique_key another job holds now and those that would
    wait for ever on a dead or cancelled job left as it is; returns how many."""
    with db.translate_errors(engine), engine.begin() as conn:
        dead = [r.id for r in fetch(conn, jobs_sql.job_list_dead_key_free)]
        after = _after_locked(conn, dead)
        chosen = deps.retryable(dead, after)
        n = _run_retry(conn, deps.retry_states(chosen, after)) if chosen else 0
        if n:
            _notify(conn, None)
        return n
