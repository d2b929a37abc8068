-- job_list_dead
SELECT id, command, state, attempts, max_retries, priority, run_at, timeout_ms, tags,
       exit_code, error, output_truncated, created_at, updated_at, started_at,
       finished_at, duration, worker_id, paused_at, retry_on, no_retry_on, backoff_base,
       cwd, env, queue, unique_key, cron_name
FROM jobs
WHERE state = 'dead'
ORDER BY finished_at DESC NULLS LAST, id DESC
LIMIT %(limit)s
