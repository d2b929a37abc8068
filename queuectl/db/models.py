"""Tables, job states and the plain dataclasses the store returns (the states and dataclasses
live in `queuectl.core.records`, importable without SQLAlchemy; `SCHEMA_HEAD` in
`queuectl.db.migrate`).

Job states and who moves a job in and out of each:

- ``pending``: set by enqueue and by ``dlq retry`` (``waiting`` instead while an ``after`` job
  has not completed), by the dependency trigger when the last ``after`` job completed, and by
  a worker that is shut down hard (its run is put back, not counted). Left when a worker claims
  the job.
- ``processing``: set by a worker's claim. Left when that worker records the outcome (only if it
  still holds the run), when a worker rescues the job after its lease expired ("worker lost"),
  or when a hard shutdown puts it back to ``pending``.
- ``completed``: the command exited 0. Final.
- ``failed``: the run failed and retries remain; ``run_at`` holds the backoff time. Left when a
  worker claims it again once ``run_at`` has come.
- ``dead``: the run failed and no retries remain (the DLQ). Left by ``dlq retry`` and
  ``retry``.
- ``cancelled``: ``cancel`` moved it here from pending, failed, held or waiting at once, or the
  worker running it stopped it on a cancel request, or a job in its ``after`` list ended dead
  or cancelled (the dependency trigger, or enqueue when that had already happened). Final;
  left only by ``retry``.
- ``held``: ``pause`` on a pending or failed job: never claimed until ``resume`` moves it back to
  ``pending``.
- ``waiting``: set by enqueue (and ``retry``) for a job whose ``after`` jobs have not all
  completed. Never claimed. The database (trigger ``queuectl_release_dependents``, fired when a
  job with dependents finishes) moves it to ``pending`` once every one of them has completed,
  or to ``cancelled`` as soon as one ends dead or cancelled; ``cancel`` also moves it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    Sequence,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from queuectl.core.records import Job, JobState, WorkerInfo
from queuectl.db import predicates
from queuectl.db.migrate import SCHEMA_HEAD

__all__ = [
    "SCHEMA_HEAD",
    "Job",
    "JobState",
    "WorkerInfo",
    "config",
    "controls",
    "cron",
    "job_output",
    "job_deps",
    "jobs",
    "leader",
    "metadata",
    "metrics",
    "queues",
    "run_id_seq",
    "switches",
    "workers",
]


CLAIMABLE = (JobState.PENDING.value, JobState.FAILED.value)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_now = func.now()
_state_list = ", ".join(f"'{s.value}'" for s in JobState)
_claimable_sql = text("state IN ('pending', 'failed')")


run_id_seq = Sequence("job_run_id_seq", metadata=metadata)

jobs = Table(
    "jobs",
    metadata,
    # Collation "C" lets `id LIKE 'prefix%'` use the primary key index.
    Column("id", Text(collation="C"), primary_key=True),
    Column("command", Text, nullable=False),
    Column("state", Text, nullable=False, server_default=JobState.PENDING.value),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_retries", Integer, nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("run_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("timeout_ms", BigInteger),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("exit_code", Integer),
    Column("error", Text),
    Column("output", Text),
    Column("output_truncated", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration", Double),
    Column("worker_id", BigInteger),
    Column("run_id", BigInteger),
    Column("lease_expires_at", DateTime(timezone=True)),
    # Set while a running job's process group is stopped by `pause` (SIGSTOP).
    Column("paused_at", DateTime(timezone=True)),
    # The job's own retry policy and run context (None: the config's policy, the worker's
    # directory, no extra variables).
    Column("retry_on", ARRAY(Integer)),
    Column("no_retry_on", ARRAY(Integer)),
    Column("backoff_base", Double),
    Column("cwd", Text),
    Column("env", JSONB),
    # The named queue (`queuectl queue ...`); settings per queue live in `queues`.
    Column("queue", Text(collation="C"), nullable=False, server_default="default"),
    # At most one unfinished job per key (the partial unique index below).
    Column("unique_key", Text),
    # Set once another job lists this one in `after`: gates the dependency trigger, so that
    # finishing an ordinary job costs nothing more.
    Column("has_dependents", Boolean, nullable=False, server_default="false"),
    # The cron schedule that enqueued the job (`cron run` too); never set from enqueue JSON.
    Column("cron_name", Text(collation="C")),
    CheckConstraint(f"state IN ({_state_list})", name="state"),
    CheckConstraint("retry_on IS NULL OR no_retry_on IS NULL", name="one_retry_list"),
    CheckConstraint("attempts >= 0 AND max_retries >= 0", name="counts"),
    # The claim's access path: claimable jobs by priority, then run_at, then id.
    Index(
        "ix_jobs_claimable",
        text("priority DESC"),
        "run_at",
        "id",
        postgresql_where=_claimable_sql,
    ),
    Index("ix_jobs_state_created", "state", "created_at", "id"),
    # The claim from one limited queue (`store.queues`): its claimable jobs in claim order.
    Index(
        "ix_jobs_queue_claimable",
        "queue",
        text("priority DESC"),
        "run_at",
        "id",
        postgresql_where=_claimable_sql,
    ),
    # Whether a queue has a due job (the limited-queue hint in every claim): one range probe,
    # and estimated as one, so the claim's plan stays cheap (no JIT) at any backlog.
    Index("ix_jobs_queue_due", "queue", "run_at", postgresql_where=_claimable_sql),
    Index("ix_jobs_unique_key", "unique_key", unique=True,
          postgresql_where=text(predicates.UNIQUE_KEY_HELD)),
    Index(
        "ix_jobs_lease",
        "lease_expires_at",
        postgresql_where=text("state = 'processing'"),
    ),
    # Partial: most jobs have no tags, and every state change of a job would otherwise add a
    # GIN entry for its empty array.
    Index("ix_jobs_tags", "tags", postgresql_using="gin",
          postgresql_where=text("tags <> '{}'::text[]")),
    Index("ix_jobs_cron_name", "cron_name", "created_at",
          postgresql_where=text("cron_name IS NOT NULL")),
)

# Cron schedules (`queuectl cron`). The fleet's leader enqueues `template` at each due tick;
# `done_until` says which ticks are spent: a tick at or before it was enqueued or skipped
# (created, replaced or resumed then). Moving it forward and inserting the job happen in one
# transaction, conditional on it being earlier than the tick, so a tick is enqueued once.
cron = Table(
    "cron",
    metadata,
    Column("name", Text(collation="C"), primary_key=True),
    Column("schedule", Text, nullable=False),
    Column("zone", Text, nullable=False, server_default="UTC"),
    Column("template", Text, nullable=False),
    Column("paused", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("done_until", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("last_run_at", DateTime(timezone=True)),
    Column("last_job_id", Text(collation="C")),
)

# `job_id` runs only after `depends_on` has completed (the job's `after` list). No foreign
# keys: enqueue checks that `depends_on` exists (and locks it), `prune` deletes a job's rows
# with it, and the per-row cascade of a foreign key doubled the time of a prune.
job_deps = Table(
    "job_deps",
    metadata,
    Column("job_id", Text(collation="C"), primary_key=True),
    Column("depends_on", Text(collation="C"), primary_key=True),
    Index("ix_job_deps_depends_on", "depends_on"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", Text, nullable=False),
    Column("concurrency", Integer, nullable=False, server_default="1"),
    Column("state", Text, nullable=False, server_default="running"),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False, server_default=_now),
    # Set by `worker stop --host/--all-hosts`: the worker stops (gracefully, or killing jobs
    # after stop_grace seconds) at its next heartbeat, or at once on the NOTIFY.
    Column("stop_requested_at", DateTime(timezone=True)),
    Column("stop_grace", Double),
)

config = Table(
    "config",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
)

# One row per elected role (today only "upkeep"): the worker holding it runs the fleet's
# upkeep until `expires_at`; it renews at each heartbeat, and any worker may take over once
# the lease has expired or its holder is no longer registered.
leader = Table(
    "leader",
    metadata,
    Column("name", Text, primary_key=True),
    Column("worker_id", BigInteger, nullable=False),
    Column("elected_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# A request for the worker running `run_id`: cancel, signal, pause or resume its process group.
# The worker takes it (sets taken_at) on a NOTIFY or, as the safety net, at its heartbeat.
controls = Table(
    "controls",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", Text(collation="C"), nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("action", Text, nullable=False),
    Column("signal", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Column("taken_at", DateTime(timezone=True)),
    Index("ix_controls_run_id", "run_id", postgresql_where=text("taken_at IS NULL")),
)

# Output of running jobs, flushed by their worker at least every second: what `logs -f`
# follows from any host. The last 1 MiB per run is kept; the final output is `jobs.output`.
job_output = Table(
    "job_output",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", Text(collation="C"), nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("chunk", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_job_output_job_id", "job_id", "id"),
)

# Fleet-wide switches (today: "claiming" = "paused" while `pause --all` holds).
switches = Table(
    "switches",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    # Who set it: the database login and the client it reported (0009).
    Column("set_by", Text),
)

# Settings of named queues (a queue without a row has none). `rate_next_at` is the earliest time
# the next job of a rate-limited queue may start; claims from a limited or paused queue hold
# its row lock (see `store.queues`).
queues = Table(
    "queues",
    metadata,
    Column("name", Text(collation="C"), primary_key=True),
    Column("concurrency", Integer),
    Column("rate_count", Integer),
    Column("rate_period", Integer),
    Column("rate_next_at", DateTime(timezone=True)),
    Column("paused", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_now),
    CheckConstraint("concurrency IS NULL OR concurrency >= 1", name="concurrency"),
    CheckConstraint("(rate_count IS NULL) = (rate_period IS NULL) AND "
                    "(rate_count IS NULL OR (rate_count >= 1 AND rate_period >= 1))",
                    name="rate"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", Text(collation="C"), nullable=False),
    Column("run_id", BigInteger),
    Column("attempt", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("exit_code", Integer),
    Column("duration", Double),
    Column("worker_id", BigInteger),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=_now),
    Index("ix_metrics_finished_at", "finished_at"),
)
