"""SQL predicates that the schema (partial indexes in `models`) and the store's statements
must spell identically: PostgreSQL matches an `ON CONFLICT ... WHERE` clause, or uses a partial
index, only when the predicate is the same. Plain strings: importing this loads no SQLAlchemy."""

from __future__ import annotations

from queuectl.core.records import JobState

__all__ = ["FINISHED", "UNIQUE_KEY_HELD"]

#: The finished states as a SQL list: `state NOT IN ({FINISHED})`.
FINISHED = ", ".join(f"'{s.value}'" for s in JobState if s.finished)

#: While this holds, a job's unique_key is taken: the predicate of the partial unique index
#: `ix_jobs_unique_key`, which the enqueue statement's ON CONFLICT clause names.
UNIQUE_KEY_HELD = f"unique_key IS NOT NULL AND state NOT IN ({FINISHED})"
