-- job_insert_many_unique
INSERT INTO jobs (id, command, max_retries, priority, run_at, timeout_ms, tags, queue,
                  retry_on, no_retry_on, backoff_base, cwd, env,
                  unique_key, state, error, has_dependents, finished_at)
SELECT id, command, max_retries, priority, coalesce(run_at, now()), timeout_ms,
       coalesce(CAST(tags AS text[]), '{}'), coalesce(queue, 'default'),
       CAST(retry_on AS int[]), CAST(no_retry_on AS int[]), backoff_base, cwd,
       CAST(env AS jsonb),
       unique_key, coalesce(state, 'pending'), error,
       coalesce(has_dependents, false), CASE WHEN state = 'cancelled' THEN now() END
FROM unnest(CAST(%(ids)s AS text[]), CAST(%(commands)s AS text[]),
            CAST(%(max_retries)s AS int[]), CAST(%(priorities)s AS int[]),
            CAST(%(run_ats)s AS timestamptz[]), CAST(%(timeouts)s AS bigint[]),
            CAST(%(tags)s AS text[]), CAST(%(queues)s AS text[]),
            CAST(%(retry_on)s AS text[]), CAST(%(no_retry_on)s AS text[]),
            CAST(%(backoff_bases)s AS float8[]), CAST(%(cwds)s AS text[]),
            CAST(%(envs)s AS text[]),
            CAST(%(unique_keys)s AS text[]),
            CAST(%(states)s AS text[]), CAST(%(errors)s AS text[]),
            CAST(%(has_dependents)s AS bool[]))
     AS t(id, command, max_retries, priority, run_at, timeout_ms, tags, queue, retry_on,
          no_retry_on, backoff_base, cwd, env, unique_key, state, error, has_dependents)

ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state NOT IN ('completed', 'dead', 'cancelled') DO NOTHING
RETURNING id
