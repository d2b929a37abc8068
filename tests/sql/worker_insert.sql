-- worker_insert
INSERT INTO workers (host, pid, version, concurrency)
VALUES (%(host)s, %(pid)s, %(version)s, %(concurrency)s)
RETURNING id
