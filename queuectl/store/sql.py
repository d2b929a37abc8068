"""SQL text and small helpers that the SQLAlchemy store modules and the bare-psycopg `quick`
module share, so that a statement exists once. Plain strings in psycopg's `%(name)s` style;
`for_sqlalchemy` turns one into SQLAlchemy's `:name` style. Imports nothing heavy."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from queuectl.core import configkeys
from queuectl.core.records import JobState
from queuectl.db import predicates

if TYPE_CHECKING:
    from queuectl.core import jobspec

__all__ = [
    "CANCELLED",
    "CLAIMED_COLUMNS",
    "CLAIM_SET",
    "CLAIMABLE",
    "CLAIMED",
    "COMPLETED",
    "COUNTS",
    "DEAD",
    "FAILED",
    "FINISHED",
    "HELD",
    "HOLDERS_OF_KEYS",
    "INSERT_DEPS",
    "INSERT_JOBS",
    "INSERT_JOBS_WITH_KEYS",
    "LOCK_DEPENDENCIES",
    "NOTIFY_CHANNEL",
    "PENDING",
    "PROCESSING",
    "RELEASE_STATE",
    "UNIQUE_KEY_HELD",
    "WAITING",
    "WORKERS",
    "array_literal",
    "config_value",
    "counts_from_rows",
    "duplicate_message",
    "for_sqlalchemy",
    "insert_params",
    "wake_payloads",
]

NOTIFY_CHANNEL = "queuectl_jobs"
# Job states as SQL literals, for statements: states in SQL come from `JobState` only.
PENDING, PROCESSING, COMPLETED, FAILED, DEAD, CANCELLED, HELD, WAITING = (
    f"'{s.value}'" for s in (JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED,
                             JobState.FAILED, JobState.DEAD, JobState.CANCELLED, JobState.HELD,
                             JobState.WAITING))
FINISHED = predicates.FINISHED
CLAIMABLE = f"{PENDING}, {FAILED}"

#: Not a state: processing jobs a worker has claimed ahead (prefetch) but not started yet.
CLAIMED = "claimed"

#: What every claim sets on a job it takes (alias `j`), before `started_at` and the lease:
#: the ordinary claim (`runs`) and the claim from a limited queue (`queues`).
CLAIM_SET = f"""state = {PROCESSING}, attempts = j.attempts + 1,
            run_id = nextval('job_run_id_seq'),
            worker_id = :worker_id, updated_at = now(), paused_at = NULL"""
#: What every claim returns of a job it took: the fields of `runs.Claimed`.
CLAIMED_COLUMNS = """j.id, j.command, j.run_id, j.attempts, j.max_retries, j.timeout_ms,
                  j.priority, j.queue, j.retry_on, j.no_retry_on, j.backoff_base, j.cwd,
                  j.env"""

UNIQUE_KEY_HELD = predicates.UNIQUE_KEY_HELD

# unique_keys, states, errors and has_dependents may be NULL instead of an array (no key,
# pending, no error, none): unnest pads them with NULLs, and ordinary batches do not pay for
# sending four more arrays. So may the policy and context columns (see `insert_params`).
INSERT_JOBS = f"""
    INSERT INTO jobs (id, command, max_retries, priority, run_at, timeout_ms, tags, queue,
                      retry_on, no_retry_on, backoff_base, cwd, env,
                      unique_key, state, error, has_dependents, finished_at)
    SELECT id, command, max_retries, priority, coalesce(run_at, now()), timeout_ms,
           coalesce(CAST(tags AS text[]), '{{}}'), coalesce(queue, 'default'),
           CAST(retry_on AS int[]), CAST(no_retry_on AS int[]), backoff_base, cwd,
           CAST(env AS jsonb),
           unique_key, coalesce(state, {PENDING}), error,
           coalesce(has_dependents, false), CASE WHEN state = {CANCELLED} THEN now() END
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

#: INSERT_JOBS for a batch with unique keys: jobs whose key an unfinished job already holds
#: are skipped (ON CONFLICT DO NOTHING: concurrent enqueues of one key wait for each other and
#: create one job); RETURNING says which were inserted. A duplicate id still fails. Batches
#: without keys take plain INSERT_JOBS: the speculative insertion costs about a third of the
#: bulk rate.
INSERT_JOBS_WITH_KEYS = f"""{INSERT_JOBS}
    ON CONFLICT (unique_key) WHERE {UNIQUE_KEY_HELD} DO NOTHING
    RETURNING id
"""

#: The jobs named in `after` outside the payload, locked (in id order) and marked as having
#: dependents, with their state now. The lock orders this enqueue against a concurrent finish
#: of one of them: either the finish commits first and the state read here is final, or it
#: waits, and its trigger then sees this enqueue's `job_deps` rows.
LOCK_DEPENDENCIES = """
    WITH l AS (SELECT id FROM jobs WHERE id = ANY(CAST(%(ids)s AS text[])) ORDER BY id
               FOR UPDATE)
    UPDATE jobs SET has_dependents = true FROM l WHERE jobs.id = l.id
    RETURNING jobs.id, jobs.state
"""

#: The job holding each of these unique keys: the unfinished one, else the newest.
HOLDERS_OF_KEYS = f"""
    SELECT DISTINCT ON (unique_key) unique_key, id FROM jobs
    WHERE unique_key = ANY(CAST(%(keys)s AS text[]))
    ORDER BY unique_key, state IN ({FINISHED}), created_at DESC, id
"""

INSERT_DEPS = """
    INSERT INTO job_deps (job_id, depends_on)
    SELECT * FROM unnest(CAST(%(job_ids)s AS text[]), CAST(%(depends_on)s AS text[]))
    ON CONFLICT DO NOTHING
"""

#: The state a job given another chance (retry, dlq retry) goes to: waiting while one of its
#: `after` jobs has not completed, else pending.
RELEASE_STATE = f"""
    CASE WHEN EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on
                      WHERE d.job_id = jobs.id AND p.state <> {COMPLETED})
         THEN {WAITING} ELSE {PENDING} END
"""


def insert_params(batch: Sequence[jobspec.JobSpec], default_retries: int) -> dict[str, Any]:
    """`INSERT_JOBS`'s parameters for `batch` (jobs without max_retries get the default).
    Optional columns that no job of the batch sets are sent as NULL, not as arrays of NULLs
    (unnest pads them): ordinary batches do not pay for them."""
    def codes(values: tuple[int, ...] | None) -> str | None:
        return None if values is None else "{" + ",".join(map(str, values)) + "}"

    def optional(values: list[Any]) -> list[Any] | None:
        return values if any(v is not None for v in values) else None

    return {
        "ids": [s.id for s in batch],
        "commands": [s.command for s in batch],
        "max_retries": [default_retries if s.max_retries is None else s.max_retries
                        for s in batch],
        "priorities": [s.priority for s in batch],
        "run_ats": [s.run_at for s in batch],
        "timeouts": [s.timeout_ms for s in batch],
        # A text[] of '{a,b}' literals keeps unnest one-dimensional.
        "tags": [array_literal(s.tags) for s in batch],
        "queues": optional([None if s.queue == "default" else s.queue for s in batch]),
        "retry_on": optional([codes(s.retry_on) for s in batch]),
        "no_retry_on": optional([codes(s.no_retry_on) for s in batch]),
        "backoff_bases": optional([s.backoff_base for s in batch]),
        "cwds": optional([s.cwd for s in batch]),
        "envs": optional([None if s.env is None else json.dumps(dict(s.env)) for s in batch]),
    }

# Jobs per state, with processing jobs not yet started (claimed ahead) apart.
COUNTS = f"""
    SELECT CASE WHEN state = '{JobState.PROCESSING}' AND started_at IS NULL
                THEN '{CLAIMED}' ELSE state END AS state,
           count(*) AS n
    FROM jobs GROUP BY 1
"""

# Live workers, the jobs each has started (BUSY counts these) and whether it leads.
WORKERS = f"""
    SELECT w.id, w.host, w.pid, w.version, w.concurrency, w.state, w.started_at,
           w.heartbeat_at,
           coalesce((SELECT array_agg(j.id ORDER BY j.started_at) FROM jobs j
                     WHERE j.state = '{JobState.PROCESSING}' AND j.worker_id = w.id
                           AND j.started_at IS NOT NULL), '{{}}') AS running,
           EXISTS (SELECT 1 FROM leader l WHERE l.worker_id = w.id AND l.expires_at > now())
               AS leader
    FROM workers w
    WHERE w.heartbeat_at >= now() - %(live)s * interval '1 second'
    ORDER BY w.host, w.pid
"""


def for_sqlalchemy(sql: str) -> str:
    """`%(name)s` placeholders as SQLAlchemy's `:name`."""
    return re.sub(r"%\((\w+)\)s", r":\1", sql)


def counts_from_rows(rows: Iterable[tuple[str, int]], *,
                     split_claimed: bool) -> dict[str, int]:
    """Every state with its count (zero when absent). With `split_claimed`, `processing`
    counts started runs only and `claimed` the rest; without, they are one state again."""
    counts = {s.value: 0 for s in JobState}
    counts[CLAIMED] = 0
    counts.update({state: int(n) for state, n in rows})
    if not split_claimed:
        counts[JobState.PROCESSING.value] += counts.pop(CLAIMED)
    return counts


def array_literal(values: list[str]) -> str:
    """A text[] literal `{"a","b"}` (keeps unnest of an array of arrays one-dimensional)."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def duplicate_message(detail: str | None) -> str:
    """The one line for a unique violation on the job id."""
    match = re.search(r"\(id\)=\((.*)\) already exists", detail or "", re.S)
    job_id = match.group(1) if match else "?"
    return f"a job with id {job_id!r} already exists; nothing was enqueued"


def wake_payloads(specs: Sequence[jobspec.JobSpec]) -> list[str]:
    """The NOTIFY payloads after an enqueue: "" when some job is due now, and the earliest
    future run_at (epoch seconds) when some are scheduled, so they start on time."""
    now = datetime.now(UTC)
    future = [s.run_at for s in specs if s.run_at is not None and s.run_at > now]
    payloads = [""] if len(future) < len(specs) else []
    if future:
        payloads.append(f"{min(future).timestamp():.6f}")
    return payloads


_log = logging.getLogger("queuectl.config")
_warned: set[tuple[str, str]] = set()


def config_value(key: str, raw: str) -> configkeys.Value:
    """A stored config value, or the key's default (with one warning per process) when this
    version cannot use it (out of range, or in a form an older version wrote): a bad row never
    stops a worker or a command."""
    try:
        return configkeys.parse_stored(key, raw)
    except ValueError as exc:
        if (key, raw) not in _warned:
            _warned.add((key, raw))
            spec = configkeys.KEYS[key]
            default = configkeys.format_value(spec.default)
            if spec.default is not None and spec.unit in ("s", "ms"):
                default += spec.unit
            _log.warning("config %s = %r is unusable (%s); using the default %s until "
                         "`queuectl config set %s ...` fixes it", key, raw, exc, default, key)
        return configkeys.KEYS[key].default
