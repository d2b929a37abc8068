"""The worker registry: register, heartbeat (which extends leases), state, deregister, and
the live workers with the jobs they run."""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement

__all__ = [
    "worker_delete",
    "worker_heartbeat",
    "worker_insert",
    "worker_insert_with_id",
    "worker_list_live",
    "worker_request_stop_silent",
    "worker_set_state",
]

#: A new registration; its id comes back.
worker_insert = Statement("worker_insert", """
    INSERT INTO workers (host, pid, version, concurrency)
    VALUES (%(host)s, %(pid)s, %(version)s, %(concurrency)s)
    RETURNING id""")

#: A registration again, under the id the worker had (after it was dropped).
worker_insert_with_id = Statement("worker_insert_with_id", """
    INSERT INTO workers (id, host, pid, version, concurrency)
    VALUES (%(id)s, %(host)s, %(pid)s, %(version)s, %(concurrency)s)
    RETURNING id""")

#: Prove the worker is alive and extend the leases of the runs it names (`run_ids`), mark
#: the prefetched ones a slot has started (`running`) started, and put back its other
#: processing jobs (claims whose answer it never got); answers whether it is still registered,
#: which runs it holds and whether it was asked to stop.
worker_heartbeat = Statement("worker_heartbeat", f"""
    WITH w AS (
        UPDATE workers SET heartbeat_at = now(), state = %(state)s WHERE id = %(worker_id)s
        RETURNING id
    ), leases AS (
        -- Prefetched runs that a slot has started since they were claimed are marked started.
        UPDATE jobs SET lease_expires_at = now() + %(lease)s * interval '1 second',
                        started_at = CASE WHEN started_at IS NULL
                                               AND run_id = ANY(CAST(%(running)s AS bigint[]))
                                          THEN now() ELSE started_at END
        WHERE state = {sql.PROCESSING} AND worker_id = %(worker_id)s
              AND run_id = ANY(CAST(%(run_ids)s AS bigint[]))
        RETURNING run_id
    ), phantom AS (
        -- Claimed by this worker, but it never learned so (the connection died before the
        -- claim's answer arrived): put back uncounted rather than rescue it as a lost run.
        UPDATE jobs SET state = {sql.PENDING}, attempts = greatest(attempts - 1, 0), run_at = now(),
                        worker_id = NULL, lease_expires_at = NULL, updated_at = now()
        WHERE state = {sql.PROCESSING} AND worker_id = %(worker_id)s
              AND run_id <> ALL(CAST(%(run_ids)s AS bigint[]))
        RETURNING id
    )
    SELECT (SELECT count(*) FROM w) AS registered, (SELECT array_agg(run_id) FROM leases) AS held,
           (SELECT stop_requested_at IS NOT NULL FROM workers WHERE id = %(worker_id)s) AS stop,
           (SELECT stop_grace FROM workers WHERE id = %(worker_id)s) AS stop_grace""")

#: `running` or `stopping` (shown by status).
worker_set_state = Statement("worker_set_state", """
    UPDATE workers SET state = %(state)s WHERE id = %(id)s""")

#: A clean exit's deregistration.
worker_delete = Statement("worker_delete", "DELETE FROM workers WHERE id = %(id)s")

#: Workers that heartbeated within `live` seconds, the jobs each has started (BUSY counts
#: these) and whether it leads.
worker_list_live = Statement("worker_list_live", f"""
    SELECT w.id, w.host, w.pid, w.version, w.concurrency, w.state, w.started_at,
           w.heartbeat_at,
           coalesce((SELECT array_agg(j.id ORDER BY j.started_at) FROM jobs j
                     WHERE j.state = {sql.PROCESSING} AND j.worker_id = w.id
                           AND j.started_at IS NOT NULL), '{{}}') AS running,
           EXISTS (SELECT 1 FROM leader l WHERE l.worker_id = w.id AND l.expires_at > now())
               AS leader
    FROM workers w
    WHERE w.heartbeat_at >= now() - %(live)s * interval '1 second'
    ORDER BY w.host, w.pid""")

#: Ask the other registered workers of `host` (NULL: every host) to stop: the ones `worker
#: stop` did not find live (`skip`) whose heartbeat is late but younger than `dead` seconds
#: (older ones the leader drops as dead). A worker that runs gets the request at its next
#: heartbeat, however late (`worker_request_stop_many` asks the live ones). Answers each one,
#: with the seconds since its heartbeat.
worker_request_stop_silent = Statement("worker_request_stop_silent", """
    UPDATE workers
    SET stop_grace = CASE WHEN stop_requested_at IS NULL THEN %(grace)s ELSE stop_grace END,
        stop_requested_at = coalesce(stop_requested_at, now())
    WHERE (CAST(%(host)s AS text) IS NULL OR host = %(host)s)
          AND id <> ALL(CAST(%(skip)s AS bigint[]))
          AND heartbeat_at >= now() - %(dead)s * interval '1 second'
    RETURNING id, host, pid, extract(epoch FROM now() - heartbeat_at) AS silent_for""")
