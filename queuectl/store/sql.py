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

from queuectl import configkeys
from queuectl.records import JobState

if TYPE_CHECKING:
    from queuectl import jobspec

__all__ = [
    "CANCELLED",
    "CLAIMABLE",
    "CLAIMED",
    "COMPLETED",
    "COUNTS",
    "DEAD",
    "FAILED",
    "FINISHED",
    "HELD",
    "INSERT_JOBS",
    "NOTIFY_CHANNEL",
    "PENDING",
    "PROCESSING",
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
PENDING, PROCESSING, COMPLETED, FAILED, DEAD, CANCELLED, HELD = (
    f"'{s.value}'" for s in (JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED,
                             JobState.FAILED, JobState.DEAD, JobState.CANCELLED, JobState.HELD))
FINISHED = ", ".join(f"'{s.value}'" for s in JobState if s.finished)
CLAIMABLE = f"{PENDING}, {FAILED}"

#: Not a state: processing jobs a worker has claimed ahead (prefetch) but not started yet.
CLAIMED = "claimed"

INSERT_JOBS = """
    INSERT INTO jobs (id, command, max_retries, priority, run_at, timeout_ms, tags, queue,
                      retry_on, no_retry_on, backoff_base, cwd, env)
    SELECT id, command, max_retries, priority, coalesce(run_at, now()), timeout_ms,
           coalesce(CAST(tags AS text[]), '{}'), queue, CAST(retry_on AS int[]),
           CAST(no_retry_on AS int[]), backoff_base, cwd, CAST(env AS jsonb)
    FROM unnest(CAST(%(ids)s AS text[]), CAST(%(commands)s AS text[]),
                CAST(%(max_retries)s AS int[]), CAST(%(priorities)s AS int[]),
                CAST(%(run_ats)s AS timestamptz[]), CAST(%(timeouts)s AS bigint[]),
                CAST(%(tags)s AS text[]), CAST(%(queues)s AS text[]),
                CAST(%(retry_on)s AS text[]),
                CAST(%(no_retry_on)s AS text[]), CAST(%(backoff_bases)s AS float8[]),
                CAST(%(cwds)s AS text[]), CAST(%(envs)s AS text[]))
         AS t(id, command, max_retries, priority, run_at, timeout_ms, tags, queue, retry_on,
              no_retry_on, backoff_base, cwd, env)
"""


def insert_params(batch: Sequence[jobspec.JobSpec], default_retries: int) -> dict[str, Any]:
    """`INSERT_JOBS`'s parameters for `batch` (jobs without max_retries get the default)."""
    def codes(values: tuple[int, ...] | None) -> str | None:
        return None if values is None else "{" + ",".join(map(str, values)) + "}"

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
        "queues": [s.queue for s in batch],
        "retry_on": [codes(s.retry_on) for s in batch],
        "no_retry_on": [codes(s.no_retry_on) for s in batch],
        "backoff_bases": [s.backoff_base for s in batch],
        "cwds": [s.cwd for s in batch],
        "envs": [None if s.env is None else json.dumps(dict(s.env)) for s in batch],
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
