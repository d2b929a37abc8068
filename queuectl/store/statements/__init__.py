"""The store's catalogue: every statement it sends, written out whole and named noun-first,
with its fence in the name where it has one (`job_finish_if_running_many`). One module per
table or concern:

- `jobs`: enqueue (insert, dependencies, unique keys), reads, lists, counts, the DLQ;
- `runs`: the claim, the fenced finish, finish-and-claim, requeue, rescue (their variants
  are composed in one place, `runs.compose`);
- `queues`: named queues' settings and counts, and the claim from a limited queue;
- `workers`: registry and heartbeat; `upkeep`: the leader lease, expired runs, stale workers;
- `control`, `cron`, `config`, `dashboard`: steering, schedules, settings and retention, the
  dashboard's reads.

Every statement uses psycopg's `%(name)s` placeholders (a literal `%` is written `%%`) and is
sent by `queuectl.store.execute`, the one execution helper. `tests/sql/` holds each final text
(every variant) as a snapshot, so a change to SQL shows up as a diff in review.

Imports nothing heavy: the bare-psycopg commands (`store.quick`) use it too.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["MODULES", "Statement", "every"]


@dataclass(frozen=True)
class Statement:
    """One statement of the catalogue: its name (noun first, then the verb and its fence) and
    its whole text."""

    name: str
    sql: str

    def __str__(self) -> str:
        return self.sql


#: The catalogue's modules, in the order the snapshot test reads them.
MODULES = ("jobs", "runs", "queues", "workers", "upkeep", "control", "cron", "config", "server",
           "dashboard")


def every() -> Iterator[Statement]:
    """Every final statement of the catalogue (every variant), each once."""
    seen: set[str] = set()
    for name in MODULES:
        module = importlib.import_module(f"queuectl.store.statements.{name}")
        for value in vars(module).values():
            if isinstance(value, Statement) and value.name not in seen:
                seen.add(value.name)
                yield value
