"""Named queues: their settings (concurrency limit, rate, pause), their counts, and the claim
from a queue that has a limit.

How limits hold exactly across the fleet
----------------------------------------
A queue is *held back* while it has a row in `queues` that is paused or has a limit. The
ordinary claim (`runs._claim_ctes`) never takes a job of a held-back queue; its `held_back`
CTE reads the set in the claim's own statement, so a `queue set`/`pause` applies to every
claim that starts after it commits, with no worker restart.

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
from queuectl.store import sql
from queuectl.store._common import _notify

__all__ = [
    "HELD_BACK",
    "QueueInfo",
    "claim_limited",
    "limited_sql",
    "list_queues",
    "pause_queue",
    "resume_queue",
    "set_queue_limits",
]

#: The names of the queues the ordinary claim leaves alone (paused or limited).
HELD_BACK = """
    SELECT name FROM queues
    WHERE paused OR concurrency IS NOT NULL OR rate_count IS NOT NULL"""

def limited_sql(*, finishing: bool) -> str:
    """Limited, unpaused queues (of `:queues`, when given) that have a due job and, as far as
    this snapshot shows, room under their limits: the claim returns them so that the worker
    knows where `claim_limited` may find work (a hint; `claim_limited` decides exactly).
    `finishing`: the statement also finishes runs (CTE `upd`, with their queue); those still
    look processing in its snapshot, so they are not counted, or the worker whose result frees
    a queue's slot would not see the room it made.
    The due-job probe is one range of `ix_jobs_queue_due` (queue, run_at). Probing the claim
    order's index instead walked every future job of the queue, and the planner, costing that
    walk for every queue row, estimated the claim high enough to JIT-compile it: 40-50 ms on
    every idle poll, of a statement that runs in under one."""
    freed = "(SELECT count(*) FROM upd u WHERE u.queue = q.name)" if finishing else "0"
    return f"""
    SELECT q.name FROM queues q
    WHERE NOT q.paused AND (q.concurrency IS NOT NULL OR q.rate_count IS NOT NULL)
          AND (CAST(:queues AS text[]) IS NULL OR q.name = ANY(CAST(:queues AS text[])))
          AND (q.rate_count IS NULL OR q.rate_next_at IS NULL OR q.rate_next_at <= now())
          AND (q.concurrency IS NULL
               OR q.concurrency > (SELECT count(*) FROM jobs r
                                   WHERE r.state = {sql.PROCESSING} AND r.queue = q.name)
                                  - {freed})
          AND EXISTS (SELECT 1 FROM jobs j
                      WHERE j.queue = q.name AND j.state IN ({sql.CLAIMABLE})
                            AND j.run_at <= now())"""


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


_LOCK = sa.text("""
    SELECT name FROM queues
    WHERE name = :queue AND NOT paused
          AND (concurrency IS NOT NULL OR rate_count IS NOT NULL)
    FOR UPDATE SKIP LOCKED""")

_CLAIM_LIMITED = sa.text(f"""
    WITH q AS (
        SELECT concurrency, rate_count, rate_period, rate_next_at FROM queues
        WHERE name = :queue
    ), busy AS (
        SELECT count(*) AS n FROM jobs WHERE queue = :queue AND state = {sql.PROCESSING}
    ), budget AS (
        SELECT greatest(0, least(
            :limit,
            coalesce(q.concurrency - busy.n, :limit),
            CASE WHEN q.rate_count IS NULL THEN :limit
                 WHEN coalesce(q.rate_next_at, now()) <= now() THEN 1 ELSE 0 END)) AS k
        FROM q, busy
    ), due AS (
        SELECT id FROM jobs
        WHERE queue = :queue AND state IN ({sql.CLAIMABLE}) AND run_at <= now()
              AND NOT EXISTS (SELECT 1 FROM switches
                              WHERE name = 'claiming' AND value = 'paused')
        ORDER BY priority DESC, run_at, id
        LIMIT (SELECT k FROM budget)
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE jobs j
        SET {sql.CLAIM_SET}, started_at = now(),
            lease_expires_at = now() + :lease * interval '1 second'
        -- An array, not a join: the planner cannot estimate LIMIT (SELECT ...) and would
        -- hash-join the whole table.
        WHERE j.id = ANY(ARRAY(SELECT id FROM due))
        RETURNING {sql.CLAIMED_COLUMNS}
    ), advanced AS (
        UPDATE queues
        SET rate_next_at = greatest(coalesce(rate_next_at, now()), now())
                           + (SELECT count(*) FROM claimed)
                             * (rate_period * interval '1 second') / rate_count
        WHERE name = :queue AND rate_count IS NOT NULL AND EXISTS (SELECT 1 FROM claimed)
        RETURNING rate_next_at
    )
    SELECT c.*, (SELECT rate_next_at FROM advanced) AS next_at FROM claimed c""")


def claim_limited(engine: sa.Engine, *, queue: str, worker_id: int | None, limit: int,
                  lease_seconds: float) -> list[Any]:
    """Claim up to `limit` due jobs of the limited queue `queue`, within its concurrency limit
    and rate (see the module docstring); none when another worker is claiming from it right
    now. Returns the claimed rows (`sql.CLAIMED_COLUMNS`), all marked started."""
    if limit <= 0:
        return []
    # READ COMMITTED whatever the server's default: the count must take a new snapshot.
    with engine.connect() as conn, \
            conn.execution_options(isolation_level="READ COMMITTED").begin():
        if conn.execute(_LOCK, {"queue": queue}).first() is None:
            return []
        rows = conn.execute(_CLAIM_LIMITED, {"queue": queue, "worker_id": worker_id,
                                             "limit": limit, "lease": lease_seconds}).all()
        next_at = rows[0].next_at if rows else None
        if next_at is not None:
            # The next start this rate allows: idle workers wake then rather than at their
            # next poll.
            _notify(conn, next_at)
    return list(rows)


_COUNTS = sa.text(f"""
    WITH c AS (
        SELECT queue,
               count(*) FILTER (WHERE state = {sql.PENDING}) AS pending,
               count(*) FILTER (WHERE state = {sql.PROCESSING}) AS running,
               count(*) FILTER (WHERE state = {sql.FAILED}) AS failed,
               count(*) FILTER (WHERE state = {sql.DEAD}) AS dead
        FROM jobs GROUP BY queue
    )
    SELECT coalesce(c.queue, q.name) AS name, coalesce(c.pending, 0) AS pending,
           coalesce(c.running, 0) AS running, coalesce(c.failed, 0) AS failed,
           coalesce(c.dead, 0) AS dead, q.concurrency, q.rate_count, q.rate_period,
           coalesce(q.paused, false) AS paused
    FROM c FULL JOIN queues q ON q.name = c.queue
    ORDER BY 1""")

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
        return [_info(r) for r in conn.execute(_COUNTS)]


_UNSET: Any = object()


def set_queue_limits(engine: sa.Engine, *, name: str, concurrency: int | None = _UNSET,
                     rate: queuespec.Rate | None = _UNSET) -> QueueInfo:
    """Set (a value) or clear (None) the queue's concurrency limit and/or rate; an argument
    left out keeps its value. Applies to every claim that starts after this commits."""
    queuespec.check_name(name)
    values: dict[str, Any] = {}
    if concurrency is not _UNSET:
        values["concurrency"] = concurrency
    if rate is not _UNSET:
        values["rate_count"] = None if rate is None else rate.count
        values["rate_period"] = None if rate is None else rate.period
    if not values:
        raise errors.UsageError("nothing to set: give --concurrency and/or --rate")
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO queues (name) VALUES (:name) ON CONFLICT (name) DO NOTHING"),
            {"name": name})
        conn.execute(sa.text(f"UPDATE queues SET {sets}, updated_at = now() WHERE name = :name"),
                     {"name": name, **values})
        _notify(conn, None)  # a raised or removed limit may let waiting jobs start now
    return _one(engine, name)


def _set_paused(engine: sa.Engine, name: str, paused: bool) -> QueueInfo:
    queuespec.check_name(name)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO queues (name, paused) VALUES (:name, :paused) ON CONFLICT (name) "
            "DO UPDATE SET paused = :paused, updated_at = now()"),
            {"name": name, "paused": paused})
        if not paused:
            _notify(conn, None)
    return _one(engine, name)


def pause_queue(engine: sa.Engine, *, name: str) -> QueueInfo:
    """Stop claiming from queue `name` across the fleet (running jobs go on)."""
    return _set_paused(engine, name, True)


def resume_queue(engine: sa.Engine, *, name: str) -> QueueInfo:
    """Claim from queue `name` again."""
    return _set_paused(engine, name, False)


def _one(engine: sa.Engine, name: str) -> QueueInfo:
    return next(q for q in list_queues(engine) if q.name == name)

