-- queue_count_due
SELECT queue, count(*) AS n FROM jobs
WHERE state IN ('pending', 'failed') AND run_at <= now() GROUP BY queue
