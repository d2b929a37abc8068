-- leader_attempt_elect
INSERT INTO leader AS l (name, worker_id, elected_at, expires_at)
VALUES (%(name)s, %(worker_id)s, now(), now() + %(lease)s * interval '1 second')
ON CONFLICT (name) DO UPDATE
    SET worker_id = excluded.worker_id, expires_at = excluded.expires_at,
        elected_at = CASE WHEN l.worker_id = excluded.worker_id THEN l.elected_at
                          ELSE now() END
    WHERE l.worker_id = excluded.worker_id OR l.expires_at < now()
          OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = l.worker_id
                         AND w.heartbeat_at >= now() - %(stale)s * interval '1 second')
RETURNING worker_id
