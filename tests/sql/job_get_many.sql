-- job_get_many
SELECT id, command, state, attempts, max_retries, priority, run_at, timeout_ms, tags,
exit_code, error, output, output_truncated, created_at, updated_at, started_at,
finished_at, duration, worker_id, run_id, lease_expires_at, paused_at, retry_on,
no_retry_on, backoff_base, cwd, env, queue, unique_key, has_dependents, cron_name FROM jobs WHERE id = ANY(CAST(%(ids)s AS text[]))
