"""Runs as workers see them: the claim, the fenced finish, both in one statement, requeue and
rescue. The variants are composed from the CTEs below in one place (`compose`); their whole
texts are in `tests/sql/job_*.sql`.

The claim (`job_claim_available`)
---------------------------------
The due scan is a skip scan over priorities: `prios` walks the distinct priorities of
claimable jobs from the highest down (one index probe each, evaluated lazily), and for each
one `due` reads `ix_jobs_claimable` (priority DESC, run_at, id) in the range
`priority = p AND run_at <= now()`. A single scan ordered by (priority, run_at) cannot stop at
the first future run_at, so with a million jobs scheduled ahead (or waiting out a backoff) an
idle poll used to read all of them; this one reads only due rows plus one probe per
priority. Order among due jobs is exact: priorities are visited highest first, and the outer
LIMIT stops the walk as soon as enough jobs are locked.

Queues: `%(queues)s` (NULL: all) is the worker's `--queue` list; `held_back` the paused and
limited queues, which only `queue_claim_limited` claims from (see `store.queues`). The
EXISTS in the outer WHERE is evaluated once (it names no column of `jobs`): a worker whose
queues are all held back skips the scan instead of reading every claimable job to find none
of its own. The `NOT EXISTS ... OR` keeps the row estimate sane: alone, `queue <> ALL(...)`
is estimated from the column's statistics, and with (nearly) every job in `default` the
planner expects no row to pass.

`started_at` is set for the first `start_now` claimed jobs, which go straight to free slots;
the rest wait in the worker's prefetch buffer and are "claimed, not started" (NULL) until a
heartbeat or their result says when they started. While a limited queue has a due job and
room (`limited`), one of the `start_now` places is left to it: `finish_and_claim` then asks
`queue_claim_limited` for it. Without that, a backlog in unlimited queues would fill every
place on every claim, and limited queues would wait until it drained.

The finish (`job_finish_if_running_many`)
-----------------------------------------
Fenced: a result is written only while the job is still processing under the same run_id.
In the same statement the claim cannot pick a job being finished: its snapshot still shows
that job as processing. The rescue (`job_rescue_if_expired_many`) is fenced twice: on run_id
and on the lease still being expired, so a worker that heartbeated in the meantime keeps its
run.
"""

from __future__ import annotations

import textwrap

from queuectl.store import sql
from queuectl.store.statements import Statement, queues

__all__ = [
    "job_abandon_if_running",
    "job_claim_available",
    "job_finish_and_claim",
    "job_finish_if_running_many",
    "job_requeue_if_running_many",
    "job_rescue_if_expired_many",
]


def _nest(fragment: str) -> str:
    """`fragment` indented as the body of a CTE (so the whole text reads as one statement)."""
    return textwrap.indent(textwrap.dedent(fragment).strip("\n"), " " * 8)


def _claim_ctes(*, finishing: bool) -> str:
    return f"""held_back AS (
{_nest(queues.HELD_BACK)}
    ), prios AS (
        (SELECT priority FROM jobs WHERE state IN ({sql.CLAIMABLE})
         ORDER BY priority DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT j.priority FROM jobs j
                WHERE j.state IN ({sql.CLAIMABLE}) AND j.priority < p.priority
                ORDER BY j.priority DESC LIMIT 1)
        FROM prios p WHERE p.priority IS NOT NULL
    ), due AS (
        SELECT d.id, d.priority, d.run_at
        FROM prios p CROSS JOIN LATERAL (
            SELECT id, priority, run_at FROM jobs
            WHERE state IN ({sql.CLAIMABLE}) AND priority = p.priority AND run_at <= now()
                  AND (CAST(%(queues)s AS text[]) IS NULL
                       OR queue = ANY(CAST(%(queues)s AS text[])))
                  AND (NOT EXISTS (SELECT 1 FROM held_back)
                       OR queue <> ALL(ARRAY(SELECT name FROM held_back)))
            ORDER BY run_at, id
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ) d
        WHERE p.priority IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM switches
                              WHERE name = 'claiming' AND value = 'paused')
              AND (CAST(%(queues)s AS text[]) IS NULL
                   OR EXISTS (SELECT 1 FROM unnest(CAST(%(queues)s AS text[])) AS w(name)
                              WHERE w.name <> ALL(ARRAY(SELECT name FROM held_back))))
        LIMIT %(limit)s
    ), ranked AS (
        SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM due
    ), limited AS (
{_nest(queues.limited_with_room(finishing=finishing))}
    ), claimed AS (
        UPDATE jobs j
        SET {queues.CLAIM_SET},
            started_at = CASE WHEN ranked.n <= %(start_now)s - (SELECT least(count(*), 1)
                                                                FROM limited)
                              THEN now() END,
            lease_expires_at = now() + %(lease)s * interval '1 second'
        FROM ranked WHERE j.id = ranked.id
        RETURNING {queues.CLAIMED_COLUMNS}, ranked.n
    )"""


#: The fence of a finish: the job is still processing under the run that reports.
_IF_RUNNING = f"j.id = r.id AND j.run_id = r.run_id AND j.state = {sql.PROCESSING}"


def _finish_ctes(*, fence: str) -> str:
    return f"""r AS (
        SELECT * FROM unnest(
            CAST(%(ids)s AS text[]), CAST(%(run_ids)s AS bigint[]), CAST(%(states)s AS text[]),
            CAST(%(exit_codes)s AS int[]), CAST(%(errors)s AS text[]),
            CAST(%(outputs)s AS text[]), CAST(%(truncated)s AS bool[]),
            CAST(%(durations)s AS float8[]), CAST(%(delays)s AS float8[])
        ) AS r(id, run_id, state, exit_code, error, output, truncated, duration, delay)
    ), upd AS (
        UPDATE jobs j
        SET state = r.state, exit_code = r.exit_code, error = r.error, output = r.output,
            output_truncated = r.truncated, duration = r.duration, finished_at = now(),
            started_at = coalesce(j.started_at,
                                  now() - coalesce(r.duration, 0) * interval '1 second'),
            updated_at = now(), lease_expires_at = NULL, worker_id = NULL,
            run_at = CASE WHEN r.state = {sql.FAILED}
                          THEN now() + r.delay * interval '1 second' ELSE j.run_at END
        FROM r
        WHERE {fence}
        RETURNING j.id, j.run_id, j.attempts, r.state, r.exit_code, r.duration, j.run_at,
                  j.started_at, j.queue
    ), ins AS (
        INSERT INTO metrics (job_id, run_id, attempt, outcome, exit_code, duration, worker_id,
                             started_at)
        SELECT id, run_id, attempts, state, exit_code, duration, %(worker_id)s, started_at
        FROM upd
    )"""


# One row shape for every variant, told apart by `kind`: finished runs, claimed jobs, and the
# limited queues with room (a hint for `queue_claim_limited`).
_FINISHED_ROWS = """
    SELECT 'finished' AS kind, id, run_id, state, run_at, NULL AS command,
           NULL::int AS attempts, NULL::int AS max_retries, NULL::bigint AS timeout_ms,
           NULL::int AS priority, NULL::int[] AS retry_on, NULL::int[] AS no_retry_on,
           NULL::float8 AS backoff_base, NULL::text AS cwd, NULL::jsonb AS env,
           NULL AS queue, NULL::bigint AS n
    FROM upd"""
_CLAIMED_ROWS = """
    SELECT 'claimed' AS kind, id, run_id, NULL AS state, NULL::timestamptz AS run_at, command,
           attempts, max_retries, timeout_ms, priority, retry_on, no_retry_on, backoff_base,
           cwd, env, queue, n
    FROM claimed
    UNION ALL
    SELECT 'limited', name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL
    FROM limited"""


def compose(*, finishing: bool, claiming: bool) -> str:
    """The worker's statement: finish `results` (fenced), claim due jobs, or both in one
    statement and one round trip (the claim's CTEs then see the finish's `upd`)."""
    if finishing and claiming:
        return (f"WITH RECURSIVE {_finish_ctes(fence=_IF_RUNNING)}, "
                f"{_claim_ctes(finishing=True)}{_FINISHED_ROWS}\n    UNION ALL{_CLAIMED_ROWS}")
    if finishing:
        return f"WITH {_finish_ctes(fence=_IF_RUNNING)}{_FINISHED_ROWS}"
    return f"WITH RECURSIVE {_claim_ctes(finishing=False)}{_CLAIMED_ROWS}"


#: Claim up to `limit` due jobs in claim order, of `queues` (NULL: all); the first
#: `start_now` are marked started. Parameters: worker_id, limit, lease, start_now, queues.
job_claim_available = Statement(
    "job_claim_available", compose(finishing=False, claiming=True))
#: Write results of runs still current (arrays ids, run_ids, states, exit_codes, errors,
#: outputs, truncated, durations, delays; worker_id) and a metrics row for each.
job_finish_if_running_many = Statement(
    "job_finish_if_running_many", compose(finishing=True, claiming=False))
#: Both of the above in one statement.
job_finish_and_claim = Statement(
    "job_finish_and_claim", compose(finishing=True, claiming=True))

#: The leader writes the outcome decided for expired runs whose lease is still expired.
job_rescue_if_expired_many = Statement("job_rescue_if_expired_many", f"""
    WITH {_finish_ctes(fence=_IF_RUNNING + " AND j.lease_expires_at < now()")}
    SELECT id, run_id FROM upd""")

#: The fallback for a run whose result the server refused (a trigger's error, say): the
#: simplest fenced write there is, without output or metrics. Dead, not failed: a command whose
#: outcome could not be recorded is not run again unseen; `dlq retry` runs it again.
job_abandon_if_running = Statement("job_abandon_if_running", f"""
    UPDATE jobs SET state = {sql.DEAD}, error = %(error)s, output = NULL,
                    output_truncated = false, finished_at = now(), updated_at = now(),
                    lease_expires_at = NULL, worker_id = NULL,
                    started_at = coalesce(started_at, now())
    WHERE id = %(id)s AND run_id = %(run_id)s AND state = {sql.PROCESSING}
          AND (NOT %(expired)s OR lease_expires_at < now())
    RETURNING id""")

#: Runs interrupted by a hard shutdown go back to pending, not counted as an attempt.
job_requeue_if_running_many = Statement("job_requeue_if_running_many", f"""
    UPDATE jobs SET state = {sql.PENDING}, attempts = greatest(attempts - 1, 0), run_at = now(),
                    worker_id = NULL, lease_expires_at = NULL, updated_at = now()
    FROM unnest(CAST(%(ids)s AS text[]), CAST(%(run_ids)s AS bigint[])) AS r(id, run_id)
    WHERE jobs.id = r.id AND jobs.run_id = r.run_id AND jobs.state = {sql.PROCESSING}
    RETURNING jobs.id""")
