-- job_count_waiting
WITH RECURSIVE queues AS (
    (SELECT queue FROM jobs WHERE state IN ('pending', 'failed') ORDER BY queue LIMIT 1)
    UNION ALL
    SELECT (SELECT j.queue FROM jobs j
            WHERE j.state IN ('pending', 'failed') AND j.queue > q.queue
            ORDER BY j.queue LIMIT 1)
    FROM queues q WHERE q.queue IS NOT NULL
), due AS (
    SELECT q.queue, d.n, d.oldest
    FROM queues q CROSS JOIN LATERAL (
        SELECT count(*) AS n, min(run_at) AS oldest FROM jobs
        WHERE state IN ('pending', 'failed') AND queue = q.queue AND run_at <= now()
    ) d
    WHERE q.queue IS NOT NULL AND d.n > 0
)
SELECT coalesce(sum(n), 0)::bigint AS depth,
       extract(epoch FROM now() - min(oldest)) AS oldest
FROM due
