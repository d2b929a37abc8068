-- job_holders_of_keys
SELECT DISTINCT ON (unique_key) unique_key, id FROM jobs
WHERE unique_key = ANY(CAST(%(keys)s AS text[]))
ORDER BY unique_key, state IN ('completed', 'dead', 'cancelled'), created_at DESC, id
