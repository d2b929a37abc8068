"""Pure policy for the `unique_key` and `after` job fields at enqueue time: which jobs of a
payload are duplicates of an earlier one, and the state each new job starts in. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from queuectl.core.records import JobState

if TYPE_CHECKING:
    from queuectl.core.jobspec import JobSpec

__all__ = ["Start", "first_of_keys", "start_states"]


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
