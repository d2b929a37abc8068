-- job_clear_paused
UPDATE jobs SET paused_at = NULL WHERE id = %(id)s
