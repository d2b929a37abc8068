-- job_mark_paused
UPDATE jobs SET paused_at = coalesce(paused_at, now()) WHERE id = %(id)s
