-- job_wake_notify
SELECT pg_notify(%(ch)s, %(p)s)
