-- job_settle_stranded
WITH stranded AS (
    SELECT j.id, bad.id AS cause, bad.state AS ended
    FROM jobs j
    LEFT JOIN LATERAL (
        SELECT p.id, p.state FROM job_deps d JOIN jobs p ON p.id = d.depends_on
        WHERE d.job_id = j.id AND p.state IN ('dead', 'cancelled')
        ORDER BY p.id LIMIT 1) bad ON true
    WHERE j.state = 'waiting'
      AND (bad.id IS NOT NULL
           OR NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
                          WHERE d.job_id = j.id AND p.state <> 'completed'))
    ORDER BY j.id
    FOR UPDATE OF j SKIP LOCKED
)
UPDATE jobs
SET state = CASE WHEN s.cause IS NULL THEN 'pending' ELSE 'cancelled' END,
    error = CASE WHEN s.cause IS NULL THEN jobs.error
                 ELSE 'dependency ' || s.cause || ' ended ' || s.ended END,
    finished_at = CASE WHEN s.cause IS NULL THEN jobs.finished_at ELSE now() END,
    updated_at = now()
FROM stranded s WHERE jobs.id = s.id
RETURNING jobs.id, jobs.state, jobs.run_at
