-- job_dependencies
SELECT d.depends_on, j.state FROM job_deps d JOIN jobs j ON j.id = d.depends_on
WHERE d.job_id = %(id)s ORDER BY d.depends_on
