-- job_rescue_unstarted_if_expired_many
UPDATE jobs j
SET state = r.state, attempts = greatest(j.attempts - 1, 0),
    lost_starts = j.lost_starts + 1, worker_id = NULL, lease_expires_at = NULL,
    updated_at = now(),
    run_at = CASE WHEN r.state = 'pending' THEN now() ELSE j.run_at END,
    error = CASE WHEN r.state = 'pending' THEN j.error ELSE r.error END,
    finished_at = CASE WHEN r.state = 'pending' THEN j.finished_at ELSE now() END
FROM unnest(CAST(%(ids)s AS text[]), CAST(%(run_ids)s AS bigint[]),
            CAST(%(states)s AS text[]), CAST(%(errors)s AS text[]))
     AS r(id, run_id, state, error)
WHERE j.id = r.id AND j.run_id = r.run_id AND j.state = 'processing' AND j.lease_expires_at < now() AND j.started_at IS NULL
RETURNING j.id, j.run_id
