"""The fleet's upkeep: the leader lease, expired runs, stale registrations. (The rescue of
expired runs is composed with the finish, in `runs`.)"""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement

__all__ = ["job_list_expired", "leader_attempt_elect", "leader_resign", "worker_delete_stale"]

#: Take or renew the leader lease `name` for `lease` seconds; a row comes back when
#: `worker_id` leads. Another worker takes over once the lease expired, or its holder's
#: registration is gone or has not heartbeated for `stale` seconds.
leader_attempt_elect = Statement("leader_attempt_elect", """
    INSERT INTO leader AS l (name, worker_id, elected_at, expires_at)
    VALUES (%(name)s, %(worker_id)s, now(), now() + %(lease)s * interval '1 second')
    ON CONFLICT (name) DO UPDATE
        SET worker_id = excluded.worker_id, expires_at = excluded.expires_at,
            elected_at = CASE WHEN l.worker_id = excluded.worker_id THEN l.elected_at
                              ELSE now() END
        WHERE l.worker_id = excluded.worker_id OR l.expires_at < now()
              OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = l.worker_id
                             AND w.heartbeat_at >= now() - %(stale)s * interval '1 second')
    RETURNING worker_id""")

#: Give up the lease (a clean exit), so another worker takes over at once.
leader_resign = Statement("leader_resign", """
    DELETE FROM leader WHERE name = %(name)s AND worker_id = %(worker_id)s""")

#: Processing jobs whose lease expired, oldest expiry first; `started` is false for a run
#: claimed into a prefetch buffer that never started (`lost_starts`: how often before).
job_list_expired = Statement("job_list_expired", f"""
    SELECT j.id, j.run_id, j.attempts, j.max_retries, j.worker_id, w.host, w.pid,
           extract(epoch FROM now() - j.started_at)::float8 AS ran_for, j.backoff_base,
           j.started_at IS NOT NULL AS started, j.lost_starts
    FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
    WHERE j.state = {sql.PROCESSING} AND j.lease_expires_at < now()
    ORDER BY j.lease_expires_at
    LIMIT %(limit)s""")

#: Registrations that have not heartbeated for `older_than` seconds.
worker_delete_stale = Statement("worker_delete_stale", """
    DELETE FROM workers WHERE heartbeat_at < now() - %(older_than)s * interval '1 second'""")
