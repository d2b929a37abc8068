-- job_list_recent_ids
SELECT id FROM jobs WHERE id LIKE %(pattern)s ESCAPE '\'
ORDER BY created_at DESC, id DESC LIMIT %(limit)s
