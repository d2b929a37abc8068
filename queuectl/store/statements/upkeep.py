"""The fleet's upkeep: the leader lease, expired runs, stale registrations, and waiting jobs
left with nothing to wait for. (The rescue of expired runs is composed with the finish, in
`runs`.)"""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement

__all__ = [
    "job_list_expired",
    "job_settle_stranded",
    "leader_attempt_elect",
    "leader_resign",
    "worker_delete_stale",
]

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

#: Processing jobs whose lease expired, oldest expiry first.
job_list_expired = Statement("job_list_expired", f"""
    SELECT j.id, j.run_id, j.attempts, j.max_retries, j.worker_id, w.host, w.pid,
           extract(epoch FROM now() - j.started_at)::float8 AS ran_for, j.backoff_base
    FROM jobs j LEFT JOIN workers w ON w.id = j.worker_id
    WHERE j.state = {sql.PROCESSING} AND j.lease_expires_at < now()
    ORDER BY j.lease_expires_at
    LIMIT %(limit)s""")

#: Registrations that have not heartbeated for `older_than` seconds.
worker_delete_stale = Statement("worker_delete_stale", """
    DELETE FROM workers WHERE heartbeat_at < now() - %(older_than)s * interval '1 second'""")

#: Waiting jobs that would wait for ever, settled: one whose `after` jobs have all completed
#: or are gone (pruned) becomes pending; one with an `after` job that ended dead or cancelled
#: is cancelled for it (the smallest such id), as the finish trigger would have done, and the
#: trigger then cancels the jobs waiting for it in turn. Jobs another transaction holds are
#: skipped (it is moving them); `error` of a released job stays until it runs again.
job_settle_stranded = Statement("job_settle_stranded", f"""
    WITH stranded AS (
        SELECT j.id, bad.id AS cause, bad.state AS ended
        FROM jobs j
        LEFT JOIN LATERAL (
            SELECT p.id, p.state FROM job_deps d JOIN jobs p ON p.id = d.depends_on
            WHERE d.job_id = j.id AND p.state IN ({sql.DEAD}, {sql.CANCELLED})
            ORDER BY p.id LIMIT 1) bad ON true
        WHERE j.state = {sql.WAITING}
          AND (bad.id IS NOT NULL
               OR NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
                              WHERE d.job_id = j.id AND p.state <> {sql.COMPLETED}))
        ORDER BY j.id
        FOR UPDATE OF j SKIP LOCKED
    )
    UPDATE jobs
    SET state = CASE WHEN s.cause IS NULL THEN {sql.PENDING} ELSE {sql.CANCELLED} END,
        error = CASE WHEN s.cause IS NULL THEN jobs.error
                     ELSE 'dependency ' || s.cause || ' ended ' || s.ended END,
        finished_at = CASE WHEN s.cause IS NULL THEN jobs.finished_at ELSE now() END,
        updated_at = now()
    FROM stranded s WHERE jobs.id = s.id
    RETURNING jobs.id, jobs.state, jobs.run_at""")
