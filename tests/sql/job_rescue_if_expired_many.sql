-- job_rescue_if_expired_many
WITH r AS (
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
    WHERE j.id = r.id AND j.run_id = r.run_id AND j.state = 'processing' AND j.lease_expires_at < now()
    RETURNING j.id, j.run_id, j.attempts, r.state, r.exit_code, r.duration, j.run_at,
              j.started_at, j.queue
), ins AS (
    INSERT INTO metrics (job_id, run_id, attempt, outcome, exit_code, duration, worker_id,
                         started_at)
    SELECT id, run_id, attempts, state, exit_code, duration, %(worker_id)s, started_at
    FROM upd
)
SELECT id, run_id FROM upd
