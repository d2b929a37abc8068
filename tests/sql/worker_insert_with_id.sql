-- worker_insert_with_id
INSERT INTO workers (id, host, pid, version, concurrency)
VALUES (%(id)s, %(host)s, %(pid)s, %(version)s, %(concurrency)s)
RETURNING id
