-- job_list_expired
SELECT j.id, j.run_id, j.attempts, j.max_retries, j.worker_id, w.host, w.pid,
       extract(epoch FROM now() - j.started_at)::float8 AS ran_for, j.backoff_base
FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
WHERE j.state = 'processing' AND j.lease_expires_at < now()
ORDER BY j.lease_expires_at
LIMIT %(limit)s
