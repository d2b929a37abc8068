-- job_list
SELECT id, command, state, attempts, max_retries, priority, run_at, timeout_ms, tags,
       exit_code, error, output_truncated, created_at, updated_at, started_at,
       finished_at, duration, worker_id, paused_at, retry_on, no_retry_on, backoff_base,
       cwd, env, queue, unique_key, cron_name
FROM jobs
WHERE (CAST(%(state)s AS text) IS NULL OR state = %(state)s)
  AND (CAST(%(tag)s AS text) IS NULL
       OR (tags @> ARRAY[CAST(%(tag)s AS text)] AND tags <> '{}'::text[]))
  AND (CAST(%(queue)s AS text) IS NULL OR queue = %(queue)s)
  AND (CAST(%(cron_name)s AS text) IS NULL OR cron_name = %(cron_name)s)
  AND (CAST(%(like)s AS text) IS NULL
       OR id LIKE %(like)s ESCAPE '\' OR command ILIKE %(like)s ESCAPE '\')
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s OFFSET %(offset)s
