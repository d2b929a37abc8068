"""Cron schedules: add, list, remove, pause, resume, run one now, and the leader's pass that
spends a due tick (`cron_spend_tick_if_due`: a tick is enqueued exactly once across the fleet,
see `store.cron`)."""

from __future__ import annotations

from queuectl.store.statements import Statement

__all__ = [
    "cron_delete",
    "cron_get",
    "cron_get_template_locked",
    "cron_insert",
    "cron_list",
    "cron_list_active",
    "cron_pause",
    "cron_record_run",
    "cron_replace",
    "cron_resume",
    "cron_spend_tick_if_due",
    "job_set_cron_name",
]

_SELECT = """
    SELECT c.name, c.schedule, c.zone, c.template, c.paused, c.created_at, c.done_until,
           c.last_run_at, c.last_job_id, j.state AS last_job_state, now() AS now
    FROM cron c LEFT JOIN jobs j ON j.id = c.last_job_id"""

#: One schedule, with the state of the last job it enqueued and the database's clock.
cron_get = Statement("cron_get", _SELECT + "\n    WHERE c.name = %(name)s")
#: Every schedule, by name (as `cron_get`).
cron_list = Statement("cron_list", _SELECT + "\n    ORDER BY c.name")

_INSERT = """
    INSERT INTO cron (name, schedule, zone, template)
    VALUES (%(name)s, %(schedule)s, %(zone)s, %(template)s)
    ON CONFLICT (name) DO {action}
    RETURNING name"""
#: A new schedule; nothing comes back when the name is taken. Its first tick is after now.
cron_insert = Statement("cron_insert", _INSERT.format(action="NOTHING"))
#: A schedule, new or redefined (its paused state stays; its next tick is after now).
cron_replace = Statement("cron_replace", _INSERT.format(
    action="UPDATE SET schedule = EXCLUDED.schedule, zone = EXCLUDED.zone,\n"
           "                              template = EXCLUDED.template, updated_at = now(),\n"
           "                              done_until = now()"))

#: Delete a schedule (the jobs it enqueued stay, with their cron name).
cron_delete = Statement("cron_delete", """
    DELETE FROM cron WHERE name = %(name)s RETURNING name""")

#: Pause a schedule.
cron_pause = Statement("cron_pause", """
    UPDATE cron SET paused = true, updated_at = now() WHERE name = %(name)s RETURNING name""")
#: Resume a schedule, skipping the ticks that passed while it was paused.
cron_resume = Statement("cron_resume", """
    UPDATE cron SET paused = false, updated_at = now(),
                    done_until = CASE WHEN paused THEN greatest(done_until, now())
                                      ELSE done_until END
    WHERE name = %(name)s RETURNING name""")

#: The template of a schedule, locked (`cron run`).
cron_get_template_locked = Statement("cron_get_template_locked", """
    SELECT template FROM cron WHERE name = %(name)s FOR UPDATE""")

#: The job a schedule enqueued, marked as its own.
job_set_cron_name = Statement("job_set_cron_name", """
    UPDATE jobs SET cron_name = %(name)s WHERE id = %(id)s""")
#: The schedule's last run and job.
cron_record_run = Statement("cron_record_run", """
    UPDATE cron SET last_run_at = now(), last_job_id = %(id)s WHERE name = %(name)s""")

#: The active schedules and the database's clock, for the leader's pass.
cron_list_active = Statement("cron_list_active", """
    SELECT name, schedule, zone, done_until, now() AS now FROM cron WHERE NOT paused""")

#: Spend `tick`: move `done_until` up to it, only while it is earlier; the template comes
#: back when this call spent it (two leaders racing serialise on the row lock, and the second
#: gets nothing).
cron_spend_tick_if_due = Statement("cron_spend_tick_if_due", """
    UPDATE cron SET done_until = %(tick)s
    WHERE name = %(name)s AND NOT paused AND done_until < %(tick)s
    RETURNING template""")
