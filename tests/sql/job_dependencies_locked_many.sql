-- job_dependencies_locked_many
SELECT d.job_id, d.depends_on, p.state FROM job_deps d JOIN jobs p ON p.id = d.depends_on
WHERE d.job_id = ANY(CAST(%(ids)s AS text[]))
ORDER BY p.id FOR SHARE OF p
