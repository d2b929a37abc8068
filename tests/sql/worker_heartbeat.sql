-- worker_heartbeat
WITH w AS (
    UPDATE workers SET heartbeat_at = now(), state = %(state)s WHERE id = %(worker_id)s
    RETURNING id
), leases AS (
    -- Prefetched runs that a slot has started since they were claimed are marked started.
    UPDATE jobs SET lease_expires_at = now() + %(lease)s * interval '1 second',
                    started_at = CASE WHEN started_at IS NULL
                                           AND run_id = ANY(CAST(%(running)s AS bigint[]))
                                      THEN now() ELSE started_at END
    WHERE state = 'processing' AND worker_id = %(worker_id)s
          AND run_id = ANY(CAST(%(run_ids)s AS bigint[]))
    RETURNING run_id
), phantom AS (
    -- Claimed by this worker, but it never learned so (the connection died before the
    -- claim's answer arrived): put back uncounted rather than rescue it as a lost run.
    UPDATE jobs SET state = 'pending', attempts = greatest(attempts - 1, 0), run_at = now(),
                    worker_id = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE state = 'processing' AND worker_id = %(worker_id)s
          AND run_id <> ALL(CAST(%(run_ids)s AS bigint[]))
    RETURNING id
)
SELECT (SELECT count(*) FROM w) AS registered, (SELECT array_agg(run_id) FROM leases) AS held,
       (SELECT stop_requested_at IS NOT NULL FROM workers WHERE id = %(worker_id)s) AS stop,
       (SELECT stop_grace FROM workers WHERE id = %(worker_id)s) AS stop_grace
