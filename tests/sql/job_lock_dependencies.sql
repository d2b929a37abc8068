-- job_lock_dependencies
WITH l AS (SELECT id FROM jobs WHERE id = ANY(CAST(%(ids)s AS text[])) ORDER BY id
           FOR UPDATE)
UPDATE jobs SET has_dependents = true FROM l WHERE jobs.id = l.id
RETURNING jobs.id, jobs.state
