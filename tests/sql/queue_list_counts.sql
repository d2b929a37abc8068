-- queue_list_counts
WITH c AS (
    SELECT queue,
           count(*) FILTER (WHERE state = 'pending') AS pending,
           count(*) FILTER (WHERE state = 'processing') AS running,
           count(*) FILTER (WHERE state = 'failed') AS failed,
           count(*) FILTER (WHERE state = 'dead') AS dead
    FROM jobs GROUP BY queue
)
SELECT coalesce(c.queue, q.name) AS name, coalesce(c.pending, 0) AS pending,
       coalesce(c.running, 0) AS running, coalesce(c.failed, 0) AS failed,
       coalesce(c.dead, 0) AS dead, q.concurrency, q.rate_count, q.rate_period,
       coalesce(q.paused, false) AS paused
FROM c FULL JOIN queues q ON q.name = c.queue
ORDER BY 1
