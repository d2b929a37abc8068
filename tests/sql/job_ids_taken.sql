-- job_ids_taken
SELECT id FROM jobs WHERE id = ANY(CAST(%(ids)s AS text[]))
