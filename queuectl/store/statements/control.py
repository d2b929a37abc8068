"""Steering jobs from any host: cancel, signal, pause, resume, retry; the fleet's claiming
switch; control requests for workers; live output chunks; stop requests."""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement
from queuectl.store.statements.jobs import JOB_COLUMNS

__all__ = [
    "control_insert",
    "control_take_for_runs",
    "job_clear_paused",
    "job_get_run",
    "job_lock_many",
    "job_mark_paused",
    "job_output_append_if_running_many",
    "job_output_delete_finished",
    "job_output_list_after",
    "job_output_trim_many",
    "job_retry_finished_many",
    "job_set_state",
    "switch_claiming_paused",
    "switch_claiming_paused_since",
    "switch_pause_claiming",
    "switch_resume_claiming",
    "worker_request_stop_many",
]

#: Whether `pause --all` holds.
switch_claiming_paused = Statement("switch_claiming_paused", """
    SELECT EXISTS (SELECT 1 FROM switches WHERE name = 'claiming' AND value = 'paused')
           AS paused""")

#: Since when `pause --all` holds: one row while it does (its first `pause --all`), none
#: while the fleet claims.
switch_claiming_paused_since = Statement("switch_claiming_paused_since", """
    SELECT updated_at AS since, set_by AS by FROM switches
    WHERE name = 'claiming' AND value = 'paused'""")

#: The jobs (resolved ids), every column and the run each is on, locked for a steering call.
job_lock_many = Statement("job_lock_many", f"""
    SELECT {JOB_COLUMNS}, run_id AS current_run FROM jobs
    WHERE id = ANY(CAST(%(ids)s AS text[])) FOR UPDATE""")

#: A request for the worker running `run_id` (cancel, signal, pause, resume).
control_insert = Statement("control_insert", """
    INSERT INTO controls (job_id, run_id, action, signal)
    VALUES (%(job_id)s, %(run_id)s, %(action)s, %(signal)s)""")

#: A steered job's new state; `final` stamps finished_at, `error` (when given) replaces it.
job_set_state = Statement("job_set_state", """
    UPDATE jobs SET state = %(state)s, updated_at = now(),
                    finished_at = CASE WHEN %(final)s THEN now() ELSE finished_at END,
                    error = coalesce(CAST(%(error)s AS text), error)
    WHERE id = %(id)s""")

#: A running job asked to pause: paused since the first request.
job_mark_paused = Statement("job_mark_paused", """
    UPDATE jobs SET paused_at = coalesce(paused_at, now()) WHERE id = %(id)s""")

#: A running job asked to resume.
job_clear_paused = Statement("job_clear_paused", """
    UPDATE jobs SET paused_at = NULL WHERE id = %(id)s""")

#: Finished jobs back, each to its state (pending or waiting), attempts reset.
job_retry_finished_many = Statement("job_retry_finished_many", """
    UPDATE jobs SET state = t.state, attempts = 0, run_at = now(), updated_at = now()
    FROM unnest(CAST(%(ids)s AS text[]), CAST(%(states)s AS text[])) AS t(id, state)
    WHERE jobs.id = t.id
    RETURNING jobs.id, jobs.state""")

#: `pause --all`: the fleet stops claiming. Pausing again keeps the time of the first pause
#: (what `status` shows as "since").
switch_pause_claiming = Statement("switch_pause_claiming", """
    INSERT INTO switches (name, value, set_by)
    VALUES ('claiming', 'paused', session_user || ' (' || %(client)s || ')')
    ON CONFLICT (name) DO UPDATE
    SET value = 'paused',
        updated_at = CASE WHEN switches.value = 'paused' THEN switches.updated_at
                          ELSE now() END,
        set_by = CASE WHEN switches.value = 'paused' THEN switches.set_by
                      ELSE excluded.set_by END""")

#: `resume --all`.
switch_resume_claiming = Statement("switch_resume_claiming", """
    DELETE FROM switches WHERE name = 'claiming'""")

#: The untaken requests for these runs, marked taken.
control_take_for_runs = Statement("control_take_for_runs", """
    UPDATE controls SET taken_at = now()
    WHERE taken_at IS NULL AND run_id = ANY(CAST(%(runs)s AS bigint[]))
    RETURNING id, job_id, run_id, action, signal""")

#: Live output chunks of running jobs, fenced on run_id; a job's chunks of an earlier run go.
job_output_append_if_running_many = Statement("job_output_append_if_running_many", f"""
    WITH c AS (
        SELECT * FROM unnest(CAST(%(ids)s AS text[]), CAST(%(runs)s AS bigint[]),
                             CAST(%(chunks)s AS text[]))
                 WITH ORDINALITY AS c(job_id, run_id, chunk, n)
    ), new AS (
        INSERT INTO job_output (job_id, run_id, chunk)
        SELECT c.job_id, c.run_id, c.chunk FROM c
        JOIN jobs j ON j.id = c.job_id AND j.run_id = c.run_id AND j.state = {sql.PROCESSING}
        ORDER BY c.n
        RETURNING job_id, run_id
    ), old AS (
        DELETE FROM job_output o USING (SELECT DISTINCT job_id, run_id FROM new) n
        WHERE o.job_id = n.job_id AND o.run_id <> n.run_id
    )
    SELECT DISTINCT job_id FROM new""")

#: Keep the last `keep` bytes of live output of these jobs.
job_output_trim_many = Statement("job_output_trim_many", """
    DELETE FROM job_output WHERE id IN (
        SELECT id FROM (
            SELECT id, sum(octet_length(chunk)) OVER (PARTITION BY job_id ORDER BY id DESC)
                       - octet_length(chunk) AS after
            FROM job_output WHERE job_id = ANY(CAST(%(ids)s AS text[]))) t
        WHERE after >= %(keep)s)""")

#: Live output of runs that ended more than `s` seconds ago (the final output is in
#: `jobs.output`).
job_output_delete_finished = Statement("job_output_delete_finished", f"""
    DELETE FROM job_output o
    WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id AND j.run_id = o.run_id
                      AND (j.state = {sql.PROCESSING}
                           OR j.updated_at >= now() - %(s)s * interval '1 second'))""")

#: The run a job is on now.
job_get_run = Statement("job_get_run", "SELECT run_id FROM jobs WHERE id = %(id)s")

#: A run's output chunks after chunk `after`.
job_output_list_after = Statement("job_output_list_after", """
    SELECT id, chunk FROM job_output
    WHERE job_id = %(id)s AND run_id = %(run)s AND id > %(after)s
    ORDER BY id""")

#: Ask these workers to stop (gracefully, or killing what runs after `grace` seconds).
worker_request_stop_many = Statement("worker_request_stop_many", """
    UPDATE workers SET stop_requested_at = now(), stop_grace = %(grace)s
    WHERE id = ANY(CAST(%(ids)s AS bigint[])) AND stop_requested_at IS NULL""")
