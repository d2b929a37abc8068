-- job_page
SELECT j.* FROM unnest(CAST(%(states)s AS text[])) AS s(state)
CROSS JOIN LATERAL (
    SELECT id, command, state, attempts, max_retries, priority, run_at, timeout_ms, tags,
       exit_code, error, output_truncated, created_at, updated_at, started_at,
       finished_at, duration, worker_id, paused_at, retry_on, no_retry_on, backoff_base,
       cwd, env, queue, unique_key, cron_name
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
LIMIT %(limit)s
