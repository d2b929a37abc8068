-- control_take_for_runs
UPDATE controls SET taken_at = now()
WHERE taken_at IS NULL AND run_id = ANY(CAST(%(runs)s AS bigint[]))
RETURNING id, job_id, run_id, action, signal
