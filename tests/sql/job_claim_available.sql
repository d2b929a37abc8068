-- job_claim_available
WITH RECURSIVE held_back AS (
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
                                  - 0)
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
SELECT 'claimed' AS kind, id, run_id, NULL AS state, NULL::timestamptz AS run_at, command,
       attempts, max_retries, timeout_ms, priority, retry_on, no_retry_on, backoff_base,
       cwd, env, queue, n
FROM claimed
UNION ALL
SELECT 'limited', name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL
FROM limited
