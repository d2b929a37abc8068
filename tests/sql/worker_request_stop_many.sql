-- worker_request_stop_many
UPDATE workers SET stop_requested_at = now(), stop_grace = %(grace)s
WHERE id = ANY(CAST(%(ids)s AS bigint[])) AND stop_requested_at IS NULL
