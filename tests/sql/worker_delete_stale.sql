-- worker_delete_stale
DELETE FROM workers WHERE heartbeat_at < now() - %(older_than)s * interval '1 second'
