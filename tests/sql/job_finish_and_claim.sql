-- job_finish_and_claim
WITH RECURSIVE r AS (
    SELECT * FROM unnest(
        CAST(%(ids)s AS text[]), CAST(%(run_ids)s AS bigint[]), CAST(%(states)s AS text[]),
        CAST(%(exit_codes)s AS int[]), CAST(%(errors)s AS text[]),
        CAST(%(outputs)s AS text[]), CAST(%(truncated)s AS bool[]),
        CAST(%(durations)s AS float8[]), CAST(%(delays)s AS float8[])
    ) AS r(id, run_id, state, exit_code, error, output, truncated, duration, delay)
), upd AS (
    UPDATE jobs j
    SET state = r.state, exit_code = r.exit_code, error = r.error, output = r.output,
        output_truncated = r.truncated, duration = r.duration, finished_at = now(),
        started_at = coalesce(j.started_at,
                              now() - coalesce(r.duration, 0) * interval '1 second'),
        updated_at = now(), lease_expires_at = NULL, worker_id = NULL,
        run_at = CASE WHEN r.state = 'failed'
                      THEN now() + r.delay * interval '1 second' ELSE j.run_at END
    FROM r
    WHERE j.id = r.id AND j.run_id = r.run_id AND j.state = 'processing'
    RETURNING j.id, j.run_id, j.attempts, r.state, r.exit_code, r.duration, j.run_at,
              j.started_at, j.queue
), ins AS (
    INSERT INTO metrics (job_id, run_id, attempt, outcome, exit_code, duration, worker_id,
                         started_at)
    SELECT id, run_id, attempts, state, exit_code, duration, %(worker_id)s, started_at
    FROM upd
), held_back AS (
    SELECT name FROM queues
    WHERE paused OR concurrency IS NOT NULL OR rate_count IS NOT NULL
), prios AS (
    (SELECT priority FROM jobs WHERE state IN ('pending', 'failed')
     ORDER BY priority DESC LIMIT 1)
    UNION ALL
    SELECT (SELECT j.priority FROM jobs j
            WHERE j.state IN ('pending', 'failed') AND j.priority < p.priority
            ORDER BY j.priority DESC LIMIT 1)
    FROM prios p WHERE p.priority IS NOT NULL
), due AS (
    SELECT d.id, d.priority, d.run_at
    FROM prios p CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM jobs
        WHERE state IN ('pending', 'failed') AND priority = p.priority AND run_at <= now()
              AND (CAST(%(queues)s AS text[]) IS NULL
                   OR queue = ANY(CAST(%(queues)s AS text[])))
              AND (NOT EXISTS (SELECT 1 FROM held_back)
                   OR queue <> ALL(ARRAY(SELECT name FROM held_back)))
        ORDER BY run_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) d
    WHERE p.priority IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM switches
                          WHERE name = 'claiming' AND value = 'paused')
          AND (CAST(%(queues)s AS text[]) IS NULL
               OR EXISTS (SELECT 1 FROM unnest(CAST(%(queues)s AS text[])) AS w(name)
                          WHERE w.name <> ALL(ARRAY(SELECT name FROM held_back))))
    LIMIT %(limit)s
), ranked AS (
    SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM due
), limited AS (
    SELECT q.name FROM queues q
    WHERE NOT q.paused AND (q.concurrency IS NOT NULL OR q.rate_count IS NOT NULL)
          AND (CAST(%(queues)s AS text[]) IS NULL OR q.name = ANY(CAST(%(queues)s AS text[])))
          AND (q.rate_count IS NULL OR q.rate_next_at IS NULL OR q.rate_next_at <= now())
          AND (q.concurrency IS NULL
               OR q.concurrency > (SELECT count(*) FROM jobs r
                                   WHERE r.state = 'processing' AND r.queue = q.name)
                                  - (SELECT count(*) FROM upd u WHERE u.queue = q.name))
          AND EXISTS (SELECT 1 FROM jobs j
                      WHERE j.queue = q.name AND j.state IN ('pending', 'failed')
                            AND j.run_at <= now())
), claimed AS (
    UPDATE jobs j
    SET state = 'processing', attempts = j.attempts + 1,
        run_id = nextval('job_run_id_seq'),
        worker_id = %(worker_id)s, updated_at = now(), paused_at = NULL,
        started_at = CASE WHEN ranked.n <= %(start_now)s - (SELECT least(count(*), 1)
                                                            FROM limited)
                          THEN now() END,
        lease_expires_at = now() + %(lease)s * interval '1 second'
    FROM ranked WHERE j.id = ranked.id
    RETURNING j.id, j.command, j.run_id, j.attempts, j.max_retries, j.timeout_ms,
              j.priority, j.queue, j.retry_on, j.no_retry_on, j.backoff_base, j.cwd,
              j.env, ranked.n
)
SELECT 'finished' AS kind, id, run_id, state, run_at, NULL AS command,
       NULL::int AS attempts, NULL::int AS max_retries, NULL::bigint AS timeout_ms,
       NULL::int AS priority, NULL::int[] AS retry_on, NULL::int[] AS no_retry_on,
       NULL::float8 AS backoff_base, NULL::text AS cwd, NULL::jsonb AS env,
       NULL AS queue, NULL::bigint AS n
FROM upd
UNION ALL
SELECT 'claimed' AS kind, id, run_id, NULL AS state, NULL::timestamptz AS run_at, command,
       attempts, max_retries, timeout_ms, priority, retry_on, no_retry_on, backoff_base,
       cwd, env, queue, n
FROM claimed
UNION ALL
SELECT 'limited', name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL
FROM limited
