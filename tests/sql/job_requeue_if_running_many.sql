-- job_requeue_if_running_many
UPDATE jobs SET state = 'pending', attempts = greatest(attempts - 1, 0), run_at = now(),
                worker_id = NULL, lease_expires_at = NULL, updated_at = now()
FROM unnest(CAST(%(ids)s AS text[]), CAST(%(run_ids)s AS bigint[])) AS r(id, run_id)
WHERE jobs.id = r.id AND jobs.run_id = r.run_id AND jobs.state = 'processing'
RETURNING jobs.id
