-- job_retry_finished_many
UPDATE jobs SET state = t.state, attempts = 0, run_at = now(), updated_at = now()
FROM unnest(CAST(%(ids)s AS text[]), CAST(%(states)s AS text[])) AS t(id, state)
WHERE jobs.id = t.id
RETURNING jobs.id, jobs.state
