-- job_list_running
SELECT id, left(command, 200) AS command, worker_id, started_at
FROM jobs WHERE state = 'processing' AND started_at IS NOT NULL
ORDER BY started_at LIMIT %(limit)s
