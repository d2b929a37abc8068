"""Read-only aggregates for the web dashboard, its JSON API and /metrics."""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement
from queuectl.store.statements.jobs import LIST_COLUMNS

__all__ = [
    "DURATION_BUCKETS",
    "job_count_waiting",
    "job_list_running",
    "job_page",
    "metric_count_by_outcome",
    "metric_duration_histogram",
    "metric_durations_recent",
    "metric_throughput_by_minute",
    "queue_count_by_state",
    "queue_count_due",
    "transaction_set_statement_timeout",
    "worker_count_live",
]

#: Upper bounds (seconds) of the run-duration histogram buckets exported on /metrics.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                    3600.0)

# The due jobs of each queue, read as the claim reads them (a skip scan): `queues` walks the
# distinct queues of claimable jobs on ix_jobs_queue_due (queue, run_at), one index probe
# each, and for each one `due` counts the range `queue = q AND run_at <= now()` of that index
# (its first entry is the queue's oldest). A plain `run_at <= now()` over all claimable jobs
# reads every one of them, the jobs scheduled ahead too: with a million of those, each
# dashboard refresh read a million index entries to count a handful. Now the cost is the due
# jobs plus one probe per queue, whatever waits in the future.
_DUE_PER_QUEUE = f"""
    WITH RECURSIVE queues AS (
        (SELECT queue FROM jobs WHERE state IN ({sql.CLAIMABLE}) ORDER BY queue LIMIT 1)
        UNION ALL
        SELECT (SELECT j.queue FROM jobs j
                WHERE j.state IN ({sql.CLAIMABLE}) AND j.queue > q.queue
                ORDER BY j.queue LIMIT 1)
        FROM queues q WHERE q.queue IS NOT NULL
    ), due AS (
        SELECT q.queue, d.n, d.oldest
        FROM queues q CROSS JOIN LATERAL (
            SELECT count(*) AS n, min(run_at) AS oldest FROM jobs
            WHERE state IN ({sql.CLAIMABLE}) AND queue = q.queue AND run_at <= now()
        ) d
        WHERE q.queue IS NOT NULL AND d.n > 0
    )"""

#: Jobs due now, and how long the oldest has waited (seconds): the skip scan above.
job_count_waiting = Statement("job_count_waiting", f"""{_DUE_PER_QUEUE}
    SELECT coalesce(sum(n), 0)::bigint AS depth,
           extract(epoch FROM now() - min(oldest)) AS oldest
    FROM due""")

#: Jobs per queue and state, and a row for every queue with settings.
queue_count_by_state = Statement("queue_count_by_state", """
    SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state
    UNION ALL
    SELECT name, NULL, 0 FROM queues""")

#: Jobs due now, per queue (queues with none left out): the skip scan above.
queue_count_due = Statement("queue_count_due", f"""{_DUE_PER_QUEUE}
    SELECT queue, n FROM due""")

#: Runs finished per minute and outcome over the last `n` minutes (every minute, zeros too).
metric_throughput_by_minute = Statement("metric_throughput_by_minute", f"""
    WITH m AS (
        SELECT date_trunc('minute', finished_at) AS minute,
               count(*) FILTER (WHERE outcome = {sql.COMPLETED}) AS completed,
               count(*) FILTER (WHERE outcome = {sql.FAILED}) AS failed,
               count(*) FILTER (WHERE outcome = {sql.DEAD}) AS dead
        FROM metrics
        WHERE finished_at >= date_trunc('minute', now()) - (%(n)s - 1) * interval '1 minute'
        GROUP BY 1
    )
    SELECT s.minute, coalesce(m.completed, 0) AS completed, coalesce(m.failed, 0) AS failed,
           coalesce(m.dead, 0) AS dead
    FROM generate_series(date_trunc('minute', now()) - (%(n)s - 1) * interval '1 minute',
                         date_trunc('minute', now()), interval '1 minute') AS s(minute)
    LEFT JOIN m ON m.minute = s.minute
    ORDER BY s.minute""")

#: Average and p95 duration of the runs completed in the last `n` minutes.
metric_durations_recent = Statement("metric_durations_recent", f"""
    SELECT avg(duration) AS avg, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) AS p95
    FROM metrics
    WHERE outcome = {sql.COMPLETED} AND duration IS NOT NULL
          AND finished_at >= now() - %(n)s * interval '1 minute'""")

#: Started runs, oldest first (command cut to 200 characters).
job_list_running = Statement("job_list_running", f"""
    SELECT id, left(command, 200) AS command, worker_id, started_at
    FROM jobs WHERE state = {sql.PROCESSING} AND started_at IS NOT NULL
    ORDER BY started_at LIMIT %(limit)s""")

#: Runs per outcome.
metric_count_by_outcome = Statement("metric_count_by_outcome", """
    SELECT outcome, count(*) AS n FROM metrics GROUP BY outcome""")

# The bucket bounds are our own constants, never user input, so they are inlined.
_BUCKETS = ",\n           ".join(f"count(*) FILTER (WHERE duration <= {b!r}) AS b{i}"
                                for i, b in enumerate(DURATION_BUCKETS))
#: Cumulative counts of durations under each bound of `DURATION_BUCKETS`, their sum and count.
metric_duration_histogram = Statement("metric_duration_histogram", f"""
    SELECT {_BUCKETS},
           coalesce(sum(duration), 0) AS total, count(*) AS n
    FROM metrics WHERE duration IS NOT NULL""")

#: Workers that heartbeated within `live` seconds.
worker_count_live = Statement("worker_count_live", """
    SELECT count(*) AS n FROM workers
    WHERE heartbeat_at >= now() - %(live)s * interval '1 second'""")

#: A page of jobs, newest first, without their output: one index scan per state on
#: ix_jobs_state_created, merged, so a page costs the same with a million jobs as with ten,
#: and the cursor (created_at, id) keeps pages stable while jobs are added. Each filter
#: applies when its parameter is not NULL (run unprepared: planned with its values).
job_page = Statement("job_page", f"""
    SELECT j.* FROM unnest(CAST(%(states)s AS text[])) AS s(state)
    CROSS JOIN LATERAL (
        SELECT {LIST_COLUMNS}
        FROM jobs
        WHERE jobs.state = s.state
          AND (CAST(%(before_at)s AS timestamptz) IS NULL
               OR (created_at, id) < (CAST(%(before_at)s AS timestamptz),
                                      CAST(%(before_id)s AS text)))
          AND (CAST(%(queue)s AS text) IS NULL OR queue = %(queue)s)
          AND (CAST(%(prefix)s AS text) IS NULL
               OR id LIKE %(prefix)s OR command ILIKE %(contains)s)
        ORDER BY created_at DESC, id DESC
        LIMIT %(limit)s
    ) AS j
    ORDER BY j.created_at DESC, j.id DESC
    LIMIT %(limit)s""")

#: Every statement of this transaction (and only of this one: a transaction pooler hands the
#: server connection to other clients after it, so nothing is set for the session) is
#: cancelled after `ms` milliseconds. The dashboard's reads: a slow database answers with an
#: error instead of holding a request.
transaction_set_statement_timeout = Statement("transaction_set_statement_timeout", """
    SELECT set_config('statement_timeout', %(ms)s, true)""")
