-- worker_request_stop_silent
UPDATE workers
SET stop_grace = CASE WHEN stop_requested_at IS NULL THEN %(grace)s ELSE stop_grace END,
    stop_requested_at = coalesce(stop_requested_at, now())
WHERE (CAST(%(host)s AS text) IS NULL OR host = %(host)s)
      AND id <> ALL(CAST(%(skip)s AS bigint[]))
      AND heartbeat_at >= now() - %(dead)s * interval '1 second'
RETURNING id, host, pid, extract(epoch FROM now() - heartbeat_at) AS silent_for
