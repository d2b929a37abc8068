-- prune_lock_xact
SELECT pg_advisory_xact_lock(%(k)s) AS locked
