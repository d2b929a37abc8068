"""Pure policy for the `unique_key` and `after` job fields: at enqueue time, which jobs of a
payload are duplicates of an earlier one and the state each new job starts in; at retry
time, which jobs can be given another chance and the state each goes back to. No I/O."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from queuectl.core.records import JobState

if TYPE_CHECKING:
    from queuectl.core.jobspec import JobSpec

__all__ = [
    "After",
    "Blocked",
    "Start",
    "first_of_keys",
    "retry_blocker",
    "retry_states",
    "retryable",
    "start_states",
]


@dataclass(frozen=True)
class Start:
    """The state a new job is inserted in, and its error (why it was cancelled)."""

    state: JobState
    error: str | None = None


def first_of_keys(specs: Sequence[JobSpec]) -> dict[str, str]:
    """Jobs of one payload whose unique_key an earlier job of the payload has: their id ->
    the id of that first job (they are duplicates of it)."""
    first: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for spec in specs:
        if spec.unique_key is None:
            continue
        holder = first.setdefault(spec.unique_key, spec.id)
        if holder != spec.id:
            duplicates[spec.id] = holder
    return duplicates


def start_states(specs: Sequence[JobSpec],
                 existing: Mapping[str, JobState]) -> dict[str, Start]:
    """The start of each job: `pending` when every `after` job has completed, `cancelled`
    (error `dependency <id> ended <state>`) when one ended dead or cancelled, else `waiting`.
    `existing` holds the states of the stored jobs named in `after`; the others are jobs of
    this payload (a cycle-free graph, as `jobspec.parse_payload` ensures), and those missing
    from `specs` have no `after` list: they start pending."""
    by_id = {s.id: s for s in specs}
    starts: dict[str, Start] = {}

    def state_of(dep: str) -> JobState:
        if dep in existing:
            return existing[dep]
        return starts[dep].state if dep in starts else JobState.PENDING

    for spec in _dependencies_first(specs, by_id):
        ended = next((d for d in spec.after
                      if state_of(d) in (JobState.DEAD, JobState.CANCELLED)), None)
        if ended is not None:
            starts[spec.id] = Start(JobState.CANCELLED,
                                    f"dependency {ended} ended {state_of(ended).value}")
        elif all(state_of(d) is JobState.COMPLETED for d in spec.after):
            starts[spec.id] = Start(JobState.PENDING)
        else:
            starts[spec.id] = Start(JobState.WAITING)
    return starts


def _dependencies_first(specs: Sequence[JobSpec],
                        by_id: Mapping[str, JobSpec]) -> list[JobSpec]:
    """The specs ordered so that a job comes after the payload jobs it waits for."""
    order: list[JobSpec] = []
    placed: set[str] = set()
    for root in specs:
        stack = [(root, False)]
        while stack:
            spec, expanded = stack.pop()
            if spec.id in placed:
                continue
            if expanded:
                placed.add(spec.id)
                order.append(spec)
                continue
            stack.append((spec, True))
            stack.extend((by_id[d], False) for d in spec.after
                         if d in by_id and d not in placed)
    return order


# --- retry ----------------------------------------------------------------------------------

#: A job's `after` jobs and the state of each: job id -> [(dependency id, its state)]. Jobs
#: pruned since are not in it (their `after` rows went with them): they no longer hold anyone.
After = Mapping[str, Sequence[tuple[str, JobState]]]
_ENDED_BADLY = (JobState.DEAD, JobState.CANCELLED)


@dataclass(frozen=True)
class Blocked:
    """A job that cannot be given another chance alone: its `after` job `dependency` ended
    `state` (dead or cancelled) and is not retried with it, so it would wait for ever."""

    job_id: str
    dependency: str
    state: JobState

    def message(self) -> str:
        """The one line that refuses the retry."""
        both = " ".join(shlex.quote(i) for i in (self.dependency, self.job_id))
        return (f"cannot retry job {self.job_id}: its dependency {self.dependency} is "
                f"{self.state.value} and would never complete; retry both "
                f"(queuectl retry {both}); nothing was changed")


def retry_blocker(ids: Collection[str], after: After) -> Blocked | None:
    """The first of the jobs retried together (`ids`, in order) that one of its `after` jobs
    blocks: dead or cancelled, and not among `ids`; None if every one can wait or run."""
    chosen = set(ids)
    for job_id in ids:
        for dep, dep_state in after.get(job_id, ()):
            if dep_state in _ENDED_BADLY and dep not in chosen:
                return Blocked(job_id, dep, dep_state)
    return None


def retryable(ids: Collection[str], after: After) -> list[str]:
    """Of the jobs a bulk retry would give another chance (`ids`), those it can: not a job
    with an `after` job that ended dead or cancelled and stays so (not retried with it, or
    itself left out), in the order given."""
    kept = set(ids)
    while True:
        dropped = {job_id for job_id in kept for dep, dep_state in after.get(job_id, ())
                   if dep_state in _ENDED_BADLY and dep not in kept}
        if not dropped:
            return [i for i in ids if i in kept]
        kept -= dropped


def retry_states(ids: Collection[str], after: After) -> dict[str, JobState]:
    """The state each job retried together (`ids`, none blocked) goes back to: `waiting`
    while one of its `after` jobs has not completed or is retried with it (a chain retried
    together runs again in order), else `pending`."""
    chosen = set(ids)
    return {job_id: JobState.WAITING if any(
        dep in chosen or dep_state is not JobState.COMPLETED
        for dep, dep_state in after.get(job_id, ())) else JobState.PENDING
            for job_id in ids}
