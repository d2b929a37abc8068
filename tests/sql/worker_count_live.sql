-- worker_count_live
SELECT count(*) AS n FROM workers
WHERE heartbeat_at >= now() - %(live)s * interval '1 second'
