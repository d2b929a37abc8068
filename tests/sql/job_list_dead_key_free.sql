-- job_list_dead_key_free
SELECT id FROM jobs
WHERE state = 'dead'
  AND NOT EXISTS (SELECT 1 FROM jobs h WHERE h.unique_key = jobs.unique_key
                  AND h.state NOT IN ('completed', 'dead', 'cancelled'))
ORDER BY id
