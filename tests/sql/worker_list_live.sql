-- worker_list_live
SELECT w.id, w.host, w.pid, w.version, w.concurrency, w.state, w.started_at,
       w.heartbeat_at,
       coalesce((SELECT array_agg(j.id ORDER BY j.started_at) FROM jobs j
                 WHERE j.state = 'processing' AND j.worker_id = w.id
                       AND j.started_at IS NOT NULL), '{}') AS running,
       EXISTS (SELECT 1 FROM leader l WHERE l.worker_id = w.id AND l.expires_at > now())
           AS leader
FROM workers w
WHERE w.heartbeat_at >= now() - %(live)s * interval '1 second'
ORDER BY w.host, w.pid
