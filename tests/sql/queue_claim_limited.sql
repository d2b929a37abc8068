-- queue_claim_limited
WITH q AS (
    SELECT concurrency, rate_count, rate_period, rate_next_at FROM queues
    WHERE name = %(queue)s
), busy AS (
    SELECT count(*) AS n FROM jobs WHERE queue = %(queue)s AND state = 'processing'
), budget AS (
    SELECT greatest(0, least(
        %(limit)s,
        coalesce(q.concurrency - busy.n, %(limit)s),
        CASE WHEN q.rate_count IS NULL THEN %(limit)s
             WHEN coalesce(q.rate_next_at, now()) <= now() THEN 1 ELSE 0 END)) AS k
    FROM q, busy
), due AS (
    SELECT id FROM jobs
    WHERE queue = %(queue)s AND state IN ('pending', 'failed') AND run_at <= now()
          AND NOT EXISTS (SELECT 1 FROM switches
                          WHERE name = 'claiming' AND value = 'paused')
    ORDER BY priority DESC, run_at, id
    LIMIT (SELECT k FROM budget)
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs j
    SET state = 'processing', attempts = j.attempts + 1,
        run_id = nextval('job_run_id_seq'),
        worker_id = %(worker_id)s, updated_at = now(), paused_at = NULL, started_at = now(),
        lease_expires_at = now() + %(lease)s * interval '1 second'
    -- An array, not a join: the planner cannot estimate LIMIT (SELECT ...) and would
    -- hash-join the whole table.
    WHERE j.id = ANY(ARRAY(SELECT id FROM due))
    RETURNING j.id, j.command, j.run_id, j.attempts, j.max_retries, j.timeout_ms,
              j.priority, j.queue, j.retry_on, j.no_retry_on, j.backoff_base, j.cwd,
              j.env
), advanced AS (
    UPDATE queues
    SET rate_next_at = greatest(coalesce(rate_next_at, now()), now())
                       + (SELECT count(*) FROM claimed)
                         * (rate_period * interval '1 second') / rate_count
    WHERE name = %(queue)s AND rate_count IS NOT NULL AND EXISTS (SELECT 1 FROM claimed)
    RETURNING rate_next_at
)
SELECT c.*, (SELECT rate_next_at FROM advanced) AS next_at FROM claimed c
