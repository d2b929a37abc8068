-- prune_lock_try_xact
SELECT pg_try_advisory_xact_lock(%(k)s) AS locked
