-- job_retry_dead_all_key_free
UPDATE jobs SET state =
    CASE WHEN EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
                      WHERE d.job_id = jobs.id AND p.state <> 'completed')
         THEN 'waiting' ELSE 'pending' END
, attempts = 0, lost_starts = 0, run_at = now(),
                    updated_at = now()
    WHERE state = 'dead' AND NOT EXISTS (SELECT 1 FROM jobs h WHERE h.unique_key = jobs.unique_key
                                AND h.state NOT IN ('completed', 'dead', 'cancelled'))
    RETURNING id
