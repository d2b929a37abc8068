"""The SQL literals and fragments the catalogue's statements are written with (job states),
and the small helpers around them (parameters, row conversion, messages).
The statements themselves are in `store.statements`. Imports nothing heavy."""

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
    "CLAIMABLE",
    "CLAIMED",
    "COMPLETED",
    "DEAD",
    "FAILED",
    "FINISHED",
    "HELD",
    "NOTIFY_CHANNEL",
    "PENDING",
    "PROCESSING",
    "UNIQUE_KEY_HELD",
    "WAITING",
    "array_literal",
    "config_value",
    "counts_from_rows",
    "duplicate_id_message",
    "duplicate_message",
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

UNIQUE_KEY_HELD = predicates.UNIQUE_KEY_HELD

def insert_params(batch: Sequence[jobspec.JobSpec], default_retries: int) -> dict[str, Any]:
    """`job_insert_many`'s parameters for `batch` (jobs without max_retries get the default).
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
    return duplicate_id_message(match.group(1) if match else "?")


def duplicate_id_message(job_id: str) -> str:
    """The one line for an enqueue of a job whose id `job_id` is taken."""
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
