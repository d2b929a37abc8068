-- job_set_state
UPDATE jobs SET state = %(state)s, updated_at = now(),
                finished_at = CASE WHEN %(final)s THEN now() ELSE finished_at END,
                error = coalesce(CAST(%(error)s AS text), error)
WHERE id = %(id)s
