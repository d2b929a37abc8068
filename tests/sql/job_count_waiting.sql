-- job_count_waiting
SELECT count(*) AS depth, extract(epoch FROM now() - min(run_at)) AS oldest
FROM jobs WHERE state IN ('pending', 'failed') AND run_at <= now()
