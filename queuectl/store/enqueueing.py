"""The enqueue itself, written once for both connections that run it: `quick.enqueue` (bare
psycopg, the CLI's fast path) and `jobs.enqueue_jobs` (SQLAlchemy). Each hands in a `Run`
that runs one statement of the catalogue (`statements.jobs`) through the one execution helper
(`execute.fetch`) in its open transaction and translates a duplicate id into
`errors.DuplicateJob`. Imports neither SQLAlchemy nor psycopg.

In one transaction: lock the stored jobs named in `after` (and mark them as having
dependents), compute each new job's start state (`deps.start_states`), insert the jobs
(skipping those whose unique_key an unfinished job holds), record their `after` lists, and
wake the workers if some job is due.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from queuectl import errors
from queuectl.core import deps
from queuectl.core.records import JobState
from queuectl.store import sql
from queuectl.store.statements import Statement
from queuectl.store.statements import jobs as jobs_sql

if TYPE_CHECKING:
    from queuectl.core.jobspec import JobSpec

__all__ = ["Enqueued", "Run", "insert_jobs"]

#: Run one statement of the catalogue with its parameters; rows, or [].
Run = Callable[[Statement, Mapping[str, Any] | None], Sequence[Any]]
_BATCH = 5000


class Enqueued(NamedTuple):
    """One job of a payload: the id of the job it created or, for a `duplicate`, of the
    unfinished job that already holds its unique_key; `state` is None for a duplicate. A named
    tuple: a bulk enqueue builds one per job, and a frozen dataclass costs several times more."""

    id: str
    state: JobState | None
    duplicate: bool = False
    unique_key: str | None = None
    error: str | None = None  # why a job was created cancelled


def insert_jobs(run: Run, *, specs: Sequence[JobSpec], default_retries: int,
                on_batch: Callable[[int], None] | None = None) -> list[Enqueued]:
    """Enqueue `specs` through `run` (already inside a transaction); one result per spec,
    in order. Raises `errors.InvalidJob` for an `after` id that names no job."""
    in_payload = {s.id for s in specs}
    existing = _lock_dependencies(run, sorted(
        {d for s in specs for d in s.after if d not in in_payload}))
    starts = deps.start_states([s for s in specs if s.after], existing)
    # A job created cancelled (its dependency ended) holds no key: a later one is no twin.
    twins = deps.first_of_keys([s for s in specs if s.id not in starts
                                or starts[s.id].state is not JobState.CANCELLED])
    fresh = [s for s in specs if s.id not in twins]
    for spec in fresh:
        named = next((d for d in spec.after if d in twins), None)
        if named is not None:
            raise errors.InvalidJob(
                f"job {spec.id}: 'after' names job {named}, a duplicate (unique_key) of job "
                f"{twins[named]} that is not created; name {twins[named]} instead")
    depended = {d for s in fresh for d in s.after}
    inserted: set[str] = set()
    for start in range(0, len(fresh), _BATCH):
        batch = fresh[start : start + _BATCH]
        params = _params(batch, default_retries, starts, depended)
        if any(s.unique_key is not None for s in batch):
            inserted.update(r[0] for r in run(jobs_sql.job_insert_many_unique, params))
        else:
            run(jobs_sql.job_insert_many, params)
            inserted.update(params["ids"])
        if on_batch is not None:
            on_batch(len(batch))
    holders = _holders(run, [s for s in fresh if s.id not in inserted], depended)
    pairs = [(s.id, d) for s in fresh if s.id in inserted for d in s.after]
    if pairs:
        run(jobs_sql.job_dep_insert_many, {"job_ids": [p[0] for p in pairs],
                              "depends_on": [p[1] for p in pairs]})
    due = [s for s in fresh if s.id in inserted
           and (s.id not in starts or starts[s.id].state is JobState.PENDING)]
    for payload in sql.wake_payloads(due) if due else []:
        run(jobs_sql.job_wake_notify, {"ch": sql.NOTIFY_CHANNEL, "p": payload})
    if len(inserted) == len(specs) and not starts:  # the common case, in bulk: all new, due
        return [Enqueued(s.id, JobState.PENDING, False, s.unique_key) for s in specs]
    return [_result(s, inserted, twins, holders, starts) for s in specs]


def _lock_dependencies(run: Run, ids: list[str]) -> dict[str, JobState]:
    """The states of the stored jobs named in `after`, locked; an unknown id is an error."""
    if not ids:
        return {}
    existing = {r[0]: JobState(r[1]) for r in run(jobs_sql.job_lock_dependencies, {"ids": ids})}
    missing = [i for i in ids if i not in existing]
    if missing:
        raise errors.InvalidJob(
            f"'after' names job {missing[0]!r}, which does not exist; nothing was enqueued")
    return existing


def _params(batch: Sequence[JobSpec], default_retries: int, starts: dict[str, deps.Start],
            depended: set[str]) -> dict[str, Any]:
    return {
        **sql.insert_params(batch, default_retries),
        **_flow_params(batch, starts, depended),
    }


def _flow_params(batch: Sequence[JobSpec], starts: dict[str, deps.Start],
                 depended: set[str]) -> dict[str, Any]:
    """The unique_key and `after` columns, None (NULL) where the whole batch has the default."""
    keys = any(s.unique_key is not None for s in batch)
    return {
        "unique_keys": [s.unique_key for s in batch] if keys else None,
        "states": [_start(starts, s).state.value for s in batch] if starts else None,
        "errors": [_start(starts, s).error for s in batch] if starts else None,
        "has_dependents": [s.id in depended for s in batch] if depended else None,
    }


_PENDING = deps.Start(JobState.PENDING)


def _start(starts: dict[str, deps.Start], spec: JobSpec) -> deps.Start:
    """How a job starts: `starts` holds the jobs with an `after` list; the others are due."""
    return starts.get(spec.id, _PENDING)


def _holders(run: Run, skipped: list[JobSpec], depended: set[str]) -> dict[str, str]:
    """unique_key -> the job holding it, for the jobs that were skipped as duplicates."""
    if not skipped:
        return {}
    holders = {r[0]: r[1] for r in run(jobs_sql.job_holders_of_keys,
                                       {"keys": sorted({str(s.unique_key) for s in skipped})})}
    named = next((s for s in skipped if s.id in depended), None)
    if named is not None:
        raise errors.InvalidJob(
            f"job {named.id} is a duplicate: job {holders.get(str(named.unique_key), '?')} "
            f"already holds unique_key {named.unique_key!r}, and 'after' cannot name a job "
            "that is not created; nothing was enqueued")
    return holders


def _result(spec: JobSpec, inserted: set[str], twins: dict[str, str], holders: dict[str, str],
            starts: dict[str, deps.Start]) -> Enqueued:
    if spec.id in inserted:
        start = _start(starts, spec)
        return Enqueued(spec.id, start.state, unique_key=spec.unique_key, error=start.error)
    first = twins.get(spec.id, spec.id)
    holder = first if first in inserted else holders.get(str(spec.unique_key), first)
    return Enqueued(holder, None, duplicate=True, unique_key=spec.unique_key)
