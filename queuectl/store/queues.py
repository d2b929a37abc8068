"""Named queues: their settings (concurrency limit, rate, pause), their counts, and the claim
from a queue that has a limit.

How limits hold exactly across the fleet
----------------------------------------
A queue is *held back* while it has a row in `queues` that is paused or has a limit. The
ordinary claim (`job_claim_available`, in `statements.runs`) never takes a job of a held-back
queue; its `held_back` CTE reads the set in the claim's own statement, so a `queue
set`/`pause` applies to every claim that starts after it commits, with no worker restart.

Jobs of a limited queue are claimed here, one queue at a time, in one short transaction:

1. `SELECT ... FROM queues WHERE name = :q FOR UPDATE SKIP LOCKED` takes the queue's row
   lock, or skips the queue at once when another worker is claiming from it (nobody waits, and
   the other queues are not touched).
2. A second statement, so a *new* READ COMMITTED snapshot taken after the lock was granted,
   counts the queue's processing jobs, claims at most `concurrency - running` of them (and,
   with a rate, at most one whose start is due: starts are spaced `period / count` apart, the
   next allowed start kept in `queues.rate_next_at`) and advances `rate_next_at`.

Every claim of the queue holds the same row lock until it commits, so each count sees every
earlier claim of the queue: claims of one queue are serialised and the count cannot overshoot.
A count in the claim statement itself would not be exact: two statements that start together
share no lock and both see the same running jobs. A finish, rescue or requeue that commits
during the count is missed, which only makes the count too high for that one claim (safe).
Nothing has to be decremented on the many ways out of `processing` (finish, rescue by the
leader after a worker died, requeue, cancel): the count is of the jobs themselves, so a dead
worker's slot frees exactly when the leader rescues its job. pgqueuer, by comparison, counts an
entrypoint's picked jobs *of the same queue manager* inside its dequeue statement
(`concurrency_limit` is per process, its snapshot count can overshoot) and rate-limits in
process memory. A per-queue counter row, bumped with a conditional UPDATE in the claim, would be
exact too, but would need a decrement on every way out of `processing`, and every finish of
an unlimited queue would write the same hot row.
Only the limited queues pay for the serialisation, and only one worker at a time claims from
each (others skip its lock rather than wait).

The one window: an ordinary claim whose statement began before a `queue set` committed may
still take jobs of that queue; a new limit holds from the claims that start after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from queuectl import errors
from queuectl.core import queuespec
from queuectl.store._common import _notify, fetch, run
from queuectl.store.statements import queues as queues_sql

__all__ = [
    "QueueInfo",
    "claim_limited",
    "list_queues",
    "pause_queue",
    "remove_queue",
    "resume_queue",
    "set_queue_limits",
]


@dataclass(frozen=True)
class QueueInfo:
    """A queue as `queue list` shows it: job counts and settings (None: no limit)."""

    name: str
    pending: int
    running: int
    failed: int
    dead: int
    concurrency: int | None
    rate: queuespec.Rate | None
    paused: bool


def claim_limited(engine: sa.Engine, *, queue: str, worker_id: int | None, limit: int,
                  lease_seconds: float) -> list[Any]:
    """Claim up to `limit` due jobs of the limited queue `queue`, within its concurrency limit
    and rate (see the module docstring); none when another worker is claiming from it right
    now. Returns the claimed rows (`statements.queues.CLAIMED_COLUMNS`), all marked started."""
    if limit <= 0:
        return []
    # READ COMMITTED whatever the server's default: the count must take a new snapshot.
    with engine.connect() as conn, \
            conn.execution_options(isolation_level="READ COMMITTED").begin():
        if not fetch(conn, queues_sql.queue_lock_limited, {"queue": queue}):
            return []
        rows = fetch(conn, queues_sql.queue_claim_limited, {
            "queue": queue, "worker_id": worker_id, "limit": limit, "lease": lease_seconds})
        next_at = rows[0].next_at if rows else None
        if next_at is not None:
            # The next start this rate allows: idle workers wake then rather than at their
            # next poll.
            _notify(conn, next_at)
    return list(rows)


_UNITS = {1: "s", 60: "m", 3600: "h"}


def _info(row: Any) -> QueueInfo:
    rate = None
    if row.rate_count is not None:
        rate = queuespec.Rate(row.rate_count, row.rate_period, _UNITS.get(row.rate_period, "s"))
    return QueueInfo(row.name, row.pending, row.running, row.failed, row.dead, row.concurrency,
                     rate, row.paused)


def list_queues(engine: sa.Engine) -> list[QueueInfo]:
    """Every queue that has jobs or settings, by name."""
    with engine.connect() as conn:
        return [_info(r) for r in fetch(conn, queues_sql.queue_list_counts)]


_UNSET: Any = object()


def set_queue_limits(engine: sa.Engine, *, name: str, concurrency: int | None = _UNSET,
                     rate: queuespec.Rate | None = _UNSET) -> QueueInfo:
    """Set (a value) or clear (None) the queue's concurrency limit and/or rate; an argument
    left out keeps its value. Applies to every claim that starts after this commits."""
    queuespec.check_name(name)
    if concurrency is _UNSET and rate is _UNSET:
        raise errors.UsageError("nothing to set: give --concurrency and/or --rate")
    params = {
        "name": name,
        "set_concurrency": concurrency is not _UNSET,
        "concurrency": None if concurrency is _UNSET else concurrency,
        "set_rate": rate is not _UNSET,
        "rate_count": None if rate is _UNSET or rate is None else rate.count,
        "rate_period": None if rate is _UNSET or rate is None else rate.period,
    }
    with engine.begin() as conn:
        run(conn, queues_sql.queue_set_limits, params)
        _notify(conn, None)  # a raised or removed limit may let waiting jobs start now
    return _one(engine, name)


def _set_paused(engine: sa.Engine, name: str, paused: bool) -> QueueInfo:
    queuespec.check_name(name)
    with engine.begin() as conn:
        if not fetch(conn, queues_sql.queue_set_paused, {"name": name, "paused": paused}):
            raise _not_found(name)
        if not paused:
            _notify(conn, None)
    return _one(engine, name)


def _not_found(name: str) -> errors.QueueNotFound:
    return errors.QueueNotFound(
        f"no queue named {name!r}: no job names it and it has no settings (`queuectl queue "
        "list` lists the queues; `queuectl queue set` gives a new one its settings)")


def pause_queue(engine: sa.Engine, *, name: str) -> QueueInfo:
    """Stop claiming from queue `name` across the fleet (running jobs go on); a queue that
    has neither jobs nor settings raises QueueNotFound."""
    return _set_paused(engine, name, True)


def resume_queue(engine: sa.Engine, *, name: str) -> QueueInfo:
    """Claim from queue `name` again (QueueNotFound as `pause_queue`)."""
    return _set_paused(engine, name, False)


def remove_queue(engine: sa.Engine, *, name: str) -> None:
    """Delete the settings (limits, rate, pause) of queue `name`, which must have no
    unfinished job (else QueueNotEmpty) and settings to delete (else QueueNotFound); its
    finished jobs keep their queue name until they are pruned. A job enqueued into it later
    starts a queue without settings."""
    queuespec.check_name(name)
    with engine.begin() as conn:
        [row] = fetch(conn, queues_sql.queue_delete_if_idle, {"name": name})
        if row.unfinished:
            raise errors.QueueNotEmpty(
                f"queue {name!r} has {row.unfinished} unfinished job(s) (pending, waiting, held, "
                "failed or running); remove it once they have finished or been cancelled")
        if not row.had_row:
            if row.has_jobs:
                raise errors.QueueNotFound(
                    f"queue {name!r} has no settings to remove (only finished jobs name it, "
                    "until `queuectl prune` removes them)")
            raise _not_found(name)


def _one(engine: sa.Engine, name: str) -> QueueInfo:
    return next(q for q in list_queues(engine) if q.name == name)

