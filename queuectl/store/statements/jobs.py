"""Jobs as users see them: enqueue (insert, dependencies, unique keys), reads, lists, counts,
status, the DLQ, and the wake-up NOTIFY that enqueues and put-backs send."""

from __future__ import annotations

from queuectl.store import sql
from queuectl.store.statements import Statement

__all__ = [
    "JOB_COLUMNS",
    "LIST_COLUMNS",
    "job_after_many",
    "job_count_by_state",
    "job_dep_insert_many",
    "job_dependencies",
    "job_dependencies_locked_many",
    "job_find_by_prefix",
    "job_get",
    "job_get_many",
    "job_holders_of_keys",
    "job_ids_taken",
    "job_insert_many",
    "job_insert_many_unique",
    "job_list",
    "job_list_dead",
    "job_list_dead_key_free",
    "job_list_recent_ids",
    "job_listen_wake",
    "job_lock_dependencies",
    "job_retry_dead_many",
    "job_unique_key_taken_many",
    "job_wake_notify",
    "metric_avg_completed_duration",
]

#: Every job column but the heavy or internal ones: what lists show.
LIST_COLUMNS = """id, command, state, attempts, max_retries, priority, run_at, timeout_ms, tags,
           exit_code, error, output_truncated, created_at, updated_at, started_at,
           finished_at, duration, worker_id, paused_at, retry_on, no_retry_on, backoff_base,
           cwd, env, queue, unique_key, cron_name"""
#: Every job column (what `job show` shows).
JOB_COLUMNS = """id, command, state, attempts, max_retries, priority, run_at, timeout_ms, tags,
           exit_code, error, output, output_truncated, created_at, updated_at, started_at,
           finished_at, duration, worker_id, run_id, lease_expires_at, paused_at, retry_on,
           no_retry_on, backoff_base, cwd, env, queue, unique_key, has_dependents, cron_name"""

#: Wake idle workers: payload "" (something is due now) or an epoch time (due then).
job_wake_notify = Statement("job_wake_notify", "SELECT pg_notify(%(ch)s, %(p)s)")
#: What an idle worker's (or a host relay's) dedicated connection waits on.
job_listen_wake = Statement("job_listen_wake", f"LISTEN {sql.NOTIFY_CHANNEL}")

# --- enqueue --------------------------------------------------------------------------------

# unique_keys, states, errors and has_dependents may be NULL instead of an array (no key,
# pending, no error, none): unnest pads them with NULLs, and ordinary batches do not pay for
# sending four more arrays. So may the policy and context columns (see `sql.insert_params`).
_INSERT_JOBS = f"""
    INSERT INTO jobs (id, command, max_retries, priority, run_at, timeout_ms, tags, queue,
                      retry_on, no_retry_on, backoff_base, cwd, env,
                      unique_key, state, error, has_dependents, finished_at)
    SELECT id, command, max_retries, priority, coalesce(run_at, now()), timeout_ms,
           coalesce(CAST(tags AS text[]), '{{}}'), coalesce(queue, 'default'),
           CAST(retry_on AS int[]), CAST(no_retry_on AS int[]), backoff_base, cwd,
           CAST(env AS jsonb),
           unique_key, coalesce(state, {sql.PENDING}), error,
           coalesce(has_dependents, false), CASE WHEN state = {sql.CANCELLED} THEN now() END
    FROM unnest(CAST(%(ids)s AS text[]), CAST(%(commands)s AS text[]),
                CAST(%(max_retries)s AS int[]), CAST(%(priorities)s AS int[]),
                CAST(%(run_ats)s AS timestamptz[]), CAST(%(timeouts)s AS bigint[]),
                CAST(%(tags)s AS text[]), CAST(%(queues)s AS text[]),
                CAST(%(retry_on)s AS text[]), CAST(%(no_retry_on)s AS text[]),
                CAST(%(backoff_bases)s AS float8[]), CAST(%(cwds)s AS text[]),
                CAST(%(envs)s AS text[]),
                CAST(%(unique_keys)s AS text[]),
                CAST(%(states)s AS text[]), CAST(%(errors)s AS text[]),
                CAST(%(has_dependents)s AS bool[]))
         AS t(id, command, max_retries, priority, run_at, timeout_ms, tags, queue, retry_on,
              no_retry_on, backoff_base, cwd, env, unique_key, state, error, has_dependents)
"""
#: A batch of jobs without unique keys (parameters: `sql.insert_params` and the flow arrays).
job_insert_many = Statement("job_insert_many", _INSERT_JOBS)

#: `job_insert_many` for a batch with unique keys: jobs whose key an unfinished job already
#: holds are skipped (ON CONFLICT DO NOTHING: concurrent enqueues of one key wait for each
#: other and create one job); RETURNING says which were inserted. A duplicate id still fails.
#: Batches without keys take plain `job_insert_many`: the speculative insertion costs about a
#: third of the bulk rate.
job_insert_many_unique = Statement("job_insert_many_unique", f"""{_INSERT_JOBS}
    ON CONFLICT (unique_key) WHERE {sql.UNIQUE_KEY_HELD} DO NOTHING
    RETURNING id
""")

#: The jobs named in `after` outside the payload, locked (in id order) and marked as having
#: dependents, with their state now. The lock orders this enqueue against a concurrent finish
#: of one of them: either the finish commits first and the state read here is final, or it
#: waits, and its trigger then sees this enqueue's `job_deps` rows.
job_lock_dependencies = Statement("job_lock_dependencies", """
    WITH l AS (SELECT id FROM jobs WHERE id = ANY(CAST(%(ids)s AS text[])) ORDER BY id
               FOR UPDATE)
    UPDATE jobs SET has_dependents = true FROM l WHERE jobs.id = l.id
    RETURNING jobs.id, jobs.state
""")

#: The job holding each of these unique keys: the unfinished one, else the newest.
job_holders_of_keys = Statement("job_holders_of_keys", f"""
    SELECT DISTINCT ON (unique_key) unique_key, id FROM jobs
    WHERE unique_key = ANY(CAST(%(keys)s AS text[]))
    ORDER BY unique_key, state IN ({sql.FINISHED}), created_at DESC, id
""")

#: The `after` edges of a payload.
job_dep_insert_many = Statement("job_dep_insert_many", """
    INSERT INTO job_deps (job_id, depends_on)
    SELECT * FROM unnest(CAST(%(job_ids)s AS text[]), CAST(%(depends_on)s AS text[]))
    ON CONFLICT DO NOTHING
""")

# --- reads ----------------------------------------------------------------------------------

#: Jobs per state, with processing jobs not yet started (claimed ahead) apart.
job_count_by_state = Statement("job_count_by_state", f"""
    SELECT CASE WHEN state = {sql.PROCESSING} AND started_at IS NULL
                THEN '{sql.CLAIMED}' ELSE state END AS state,
           count(*) AS n
    FROM jobs GROUP BY 1
""")

#: The average duration of completed runs.
metric_avg_completed_duration = Statement("metric_avg_completed_duration", f"""
    SELECT avg(duration) AS avg FROM metrics WHERE outcome = {sql.COMPLETED}""")

#: The `after` lists of these jobs.
job_after_many = Statement("job_after_many", """
    SELECT job_id, array_agg(depends_on ORDER BY depends_on) AS after
    FROM job_deps WHERE job_id = ANY(CAST(%(ids)s AS text[])) GROUP BY job_id""")

#: One job, every column.
job_get = Statement("job_get", f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = %(id)s")

#: The jobs with these ids, every column.
job_get_many = Statement("job_get_many", f"""
    SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY(CAST(%(ids)s AS text[]))""")

#: Which of these ids are taken.
job_ids_taken = Statement("job_ids_taken", """
    SELECT id FROM jobs WHERE id = ANY(CAST(%(ids)s AS text[]))""")

#: Up to six ids that start with a LIKE pattern (escaped): one means a unique prefix.
job_find_by_prefix = Statement("job_find_by_prefix", """
    SELECT id FROM jobs WHERE id LIKE %(pattern)s ESCAPE '\\' ORDER BY id LIMIT 6""")

#: The jobs one job runs after, and the state of each.
job_dependencies = Statement("job_dependencies", """
    SELECT d.depends_on, j.state FROM job_deps d JOIN jobs j ON j.id = d.depends_on
    WHERE d.job_id = %(id)s ORDER BY d.depends_on""")

#: Jobs, newest first, without their output; each filter applies when its parameter is not
#: NULL (run unprepared, so each is planned with its values and the unused filters fold
#: away). The non-empty condition on tags lets PostgreSQL use the partial GIN index.
job_list = Statement("job_list", f"""
    SELECT {LIST_COLUMNS}
    FROM jobs
    WHERE (CAST(%(state)s AS text) IS NULL OR state = %(state)s)
      AND (CAST(%(tag)s AS text) IS NULL
           OR (tags @> ARRAY[CAST(%(tag)s AS text)] AND tags <> '{{}}'::text[]))
      AND (CAST(%(queue)s AS text) IS NULL OR queue = %(queue)s)
      AND (CAST(%(cron_name)s AS text) IS NULL OR cron_name = %(cron_name)s)
      AND (CAST(%(like)s AS text) IS NULL
           OR id LIKE %(like)s ESCAPE '\\' OR command ILIKE %(like)s ESCAPE '\\')
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s OFFSET %(offset)s""")

# --- DLQ ------------------------------------------------------------------------------------

#: The `after` jobs of these jobs and the state of each, locked (shared, in id order) so that
#: none finishes or moves until the retry that reads them commits: the states a retry puts
#: its jobs back to stay true (a dependency completing meanwhile would find its dependent
#: not yet waiting, and leave it waiting for ever).
job_dependencies_locked_many = Statement("job_dependencies_locked_many", """
    SELECT d.job_id, d.depends_on, p.state FROM job_deps d JOIN jobs p ON p.id = d.depends_on
    WHERE d.job_id = ANY(CAST(%(ids)s AS text[]))
    ORDER BY p.id FOR SHARE OF p""")

#: Dead jobs, the latest death first (their finish time; then the newest id), without their
#: output: what `dlq list` shows.
job_list_dead = Statement("job_list_dead", f"""
    SELECT {LIST_COLUMNS}
    FROM jobs
    WHERE state = {sql.DEAD}
    ORDER BY finished_at DESC NULLS LAST, id DESC
    LIMIT %(limit)s""")

#: Ids of the dead jobs, but those whose unique_key an unfinished job holds now.
job_list_dead_key_free = Statement("job_list_dead_key_free", f"""
    SELECT id FROM jobs
    WHERE state = {sql.DEAD}
      AND NOT EXISTS (SELECT 1 FROM jobs h WHERE h.unique_key = jobs.unique_key
                      AND h.state NOT IN ({sql.FINISHED}))
    ORDER BY id""")

#: Dead jobs back, each to its state (pending or waiting), attempts reset; one that is no
#: longer dead (another retry moved it first) is left alone.
job_retry_dead_many = Statement("job_retry_dead_many", f"""
    UPDATE jobs SET state = t.state, attempts = 0, run_at = now(), updated_at = now()
    FROM unnest(CAST(%(ids)s AS text[]), CAST(%(states)s AS text[])) AS t(id, state)
    WHERE jobs.id = t.id AND jobs.state = {sql.DEAD}
    RETURNING jobs.id""")

#: The first of these jobs whose unique_key another, unfinished job holds, and that holder.
job_unique_key_taken_many = Statement("job_unique_key_taken_many", f"""
    SELECT r.id, r.unique_key, h.id AS holder FROM jobs r
    JOIN jobs h ON h.unique_key = r.unique_key AND h.id <> r.id
               AND h.state NOT IN ({sql.FINISHED})
    WHERE r.id = ANY(CAST(%(ids)s AS text[])) ORDER BY r.id LIMIT 1""")

#: Ids that start with a LIKE pattern (escaped), newest first (for shell completion).
job_list_recent_ids = Statement("job_list_recent_ids", """
    SELECT id FROM jobs WHERE id LIKE %(pattern)s ESCAPE '\\'
    ORDER BY created_at DESC, id DESC LIMIT %(limit)s""")
