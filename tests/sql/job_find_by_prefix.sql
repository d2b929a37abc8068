-- job_find_by_prefix
SELECT id FROM jobs WHERE id LIKE %(pattern)s ESCAPE '\' ORDER BY id LIMIT 6
