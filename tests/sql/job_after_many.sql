-- job_after_many
SELECT job_id, array_agg(depends_on ORDER BY depends_on) AS after
FROM job_deps WHERE job_id = ANY(CAST(%(ids)s AS text[])) GROUP BY job_id
