-- job_unique_key_taken_many
SELECT r.id, r.unique_key, h.id AS holder FROM jobs r
JOIN jobs h ON h.unique_key = r.unique_key AND h.id <> r.id
           AND h.state NOT IN ('completed', 'dead', 'cancelled')
WHERE r.id = ANY(CAST(%(ids)s AS text[])) ORDER BY r.id LIMIT 1
