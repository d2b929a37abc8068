"""Named queues: their settings, their counts, and the claim from a queue that has a limit
(how limits hold exactly across the fleet: see `queuectl.store.queues`). The pieces every
claim shares (`CLAIM_SET`, `CLAIMED_COLUMNS`, `HELD_BACK`, `limited_with_room`) are here too:
`runs` composes the ordinary claim from them."""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement

__all__ = [
    "CLAIMED_COLUMNS",
    "CLAIM_SET",
    "HELD_BACK",
    "limited_with_room",
    "queue_claim_limited",
    "queue_delete_if_idle",
    "queue_list_counts",
    "queue_lock_limited",
    "queue_set_limits",
    "queue_set_paused",
]

#: What every claim sets on a job it takes (alias `j`), before `started_at` and the lease:
#: the ordinary claim (`runs`) and the claim from a limited queue.
CLAIM_SET = f"""state = {sql.PROCESSING}, attempts = j.attempts + 1,
            run_id = nextval('job_run_id_seq'),
            worker_id = %(worker_id)s, updated_at = now(), paused_at = NULL"""
#: What every claim returns of a job it took: the fields of `runs.Claimed`.
CLAIMED_COLUMNS = """j.id, j.command, j.run_id, j.attempts, j.max_retries, j.timeout_ms,
                  j.priority, j.queue, j.retry_on, j.no_retry_on, j.backoff_base, j.cwd,
                  j.env"""

#: The names of the queues the ordinary claim leaves alone (paused or limited).
HELD_BACK = """
    SELECT name FROM queues
    WHERE paused OR concurrency IS NOT NULL OR rate_count IS NOT NULL"""


def limited_with_room(*, finishing: bool) -> str:
    """Limited, unpaused queues (of `%(queues)s`, when given) that have a due job and, as far
    as this snapshot shows, room under their limits: the claim returns them so that the worker
    knows where `queue_claim_limited` may find work (a hint; that claim decides exactly).
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
          AND (CAST(%(queues)s AS text[]) IS NULL OR q.name = ANY(CAST(%(queues)s AS text[])))
          AND (q.rate_count IS NULL OR q.rate_next_at IS NULL OR q.rate_next_at <= now())
          AND (q.concurrency IS NULL
               OR q.concurrency > (SELECT count(*) FROM jobs r
                                   WHERE r.state = {sql.PROCESSING} AND r.queue = q.name)
                                  - {freed})
          AND EXISTS (SELECT 1 FROM jobs j
                      WHERE j.queue = q.name AND j.state IN ({sql.CLAIMABLE})
                            AND j.run_at <= now())"""


#: The limited queue's row lock, or nothing when another worker is claiming from it now.
queue_lock_limited = Statement("queue_lock_limited", """
    SELECT name FROM queues
    WHERE name = %(queue)s AND NOT paused
          AND (concurrency IS NOT NULL OR rate_count IS NOT NULL)
    FOR UPDATE SKIP LOCKED""")

#: Under the queue's row lock, in a new snapshot: claim at most `concurrency - running` due
#: jobs (with a rate, at most one whose start is due) and advance the next allowed start.
queue_claim_limited = Statement("queue_claim_limited", f"""
    WITH q AS (
        SELECT concurrency, rate_count, rate_period, rate_next_at FROM queues
        WHERE name = %(queue)s
    ), busy AS (
        SELECT count(*) AS n FROM jobs WHERE queue = %(queue)s AND state = {sql.PROCESSING}
    ), budget AS (
        SELECT greatest(0, least(
            %(limit)s,
            coalesce(q.concurrency - busy.n, %(limit)s),
            CASE WHEN q.rate_count IS NULL THEN %(limit)s
                 WHEN coalesce(q.rate_next_at, now()) <= now() THEN 1 ELSE 0 END)) AS k
        FROM q, busy
    ), due AS (
        SELECT id FROM jobs
        WHERE queue = %(queue)s AND state IN ({sql.CLAIMABLE}) AND run_at <= now()
              AND NOT EXISTS (SELECT 1 FROM switches
                              WHERE name = 'claiming' AND value = 'paused')
        ORDER BY priority DESC, run_at, id
        LIMIT (SELECT k FROM budget)
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE jobs j
        SET {CLAIM_SET}, started_at = now(),
            lease_expires_at = now() + %(lease)s * interval '1 second'
        -- An array, not a join: the planner cannot estimate LIMIT (SELECT ...) and would
        -- hash-join the whole table.
        WHERE j.id = ANY(ARRAY(SELECT id FROM due))
        RETURNING {CLAIMED_COLUMNS}
    ), advanced AS (
        UPDATE queues
        SET rate_next_at = greatest(coalesce(rate_next_at, now()), now())
                           + (SELECT count(*) FROM claimed)
                             * (rate_period * interval '1 second') / rate_count
        WHERE name = %(queue)s AND rate_count IS NOT NULL AND EXISTS (SELECT 1 FROM claimed)
        RETURNING rate_next_at
    )
    SELECT c.*, (SELECT rate_next_at FROM advanced) AS next_at FROM claimed c""")

#: Every queue that has jobs or settings, with its counts per state, by name.
queue_list_counts = Statement("queue_list_counts", f"""
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

#: Set the limits given (`set_concurrency`, `set_rate`) and keep the others; creates the
#: queue's row when it has none. A new rate applies from the next claim: the next allowed
#: start (`rate_next_at`, the last start plus the old spacing, see `queue_claim_limited`)
#: becomes the last start plus the new spacing, sooner or later than it was; no rate before
#: or after (a cleared rate, or a stale `rate_next_at` an older version left behind one)
#: clears it.
queue_set_limits = Statement("queue_set_limits", """
    INSERT INTO queues AS q (name, concurrency, rate_count, rate_period)
    VALUES (%(name)s,
            CASE WHEN %(set_concurrency)s THEN CAST(%(concurrency)s AS int) END,
            CASE WHEN %(set_rate)s THEN CAST(%(rate_count)s AS int) END,
            CASE WHEN %(set_rate)s THEN CAST(%(rate_period)s AS int) END)
    ON CONFLICT (name) DO UPDATE
        SET concurrency = CASE WHEN %(set_concurrency)s THEN excluded.concurrency
                               ELSE q.concurrency END,
            rate_count = CASE WHEN %(set_rate)s THEN excluded.rate_count ELSE q.rate_count END,
            rate_period = CASE WHEN %(set_rate)s THEN excluded.rate_period
                               ELSE q.rate_period END,
            rate_next_at = CASE
                WHEN NOT %(set_rate)s THEN q.rate_next_at
                WHEN q.rate_count IS NULL OR excluded.rate_count IS NULL THEN NULL
                ELSE q.rate_next_at - (q.rate_period * interval '1 second') / q.rate_count
                     + (excluded.rate_period * interval '1 second') / excluded.rate_count
            END,
            updated_at = now()""")

#: Pause or resume a queue that exists, that is has jobs or settings (creates its row when it
#: has none); no row back for a queue that does not.
queue_set_paused = Statement("queue_set_paused", """
    INSERT INTO queues AS q (name, paused)
    SELECT %(name)s, %(paused)s
    WHERE EXISTS (SELECT 1 FROM queues WHERE name = %(name)s)
          OR EXISTS (SELECT 1 FROM jobs WHERE queue = %(name)s)
    ON CONFLICT (name) DO UPDATE SET paused = %(paused)s, updated_at = now()
    RETURNING q.name""")

#: Delete a queue's settings row unless it has unfinished jobs; answers how many unfinished
#: jobs it has, whether it had a row and whether any job names it (none of them: no queue).
queue_delete_if_idle = Statement("queue_delete_if_idle", f"""
    WITH unfinished AS (
        SELECT count(*) AS n FROM jobs
        WHERE queue = %(name)s AND state NOT IN ({sql.FINISHED})
    ), gone AS (
        DELETE FROM queues
        WHERE name = %(name)s AND (SELECT n FROM unfinished) = 0
        RETURNING name
    )
    SELECT (SELECT n FROM unfinished) AS unfinished,
           EXISTS (SELECT 1 FROM queues WHERE name = %(name)s) AS had_row,
           EXISTS (SELECT 1 FROM jobs WHERE queue = %(name)s) AS has_jobs,
           EXISTS (SELECT 1 FROM gone) AS removed""")
