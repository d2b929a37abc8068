-- job_abandon_if_running
UPDATE jobs SET state = 'dead', error = %(error)s, output = NULL,
                output_truncated = false, finished_at = now(), updated_at = now(),
                lease_expires_at = NULL, worker_id = NULL,
                started_at = coalesce(started_at, now())
WHERE id = %(id)s AND run_id = %(run_id)s AND state = 'processing'
      AND (NOT %(expired)s OR lease_expires_at < now())
RETURNING id
