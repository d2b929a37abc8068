"""The scratch database: `qbench_<random>` on the given server, migrated with
`queuectl.db.migrate`, dropped at the end of the run (also on failure or Ctrl-C). The bench
never connects to any other database except the one in the URL, and only to CREATE/DROP.

The bulk loaders below write SQL directly: they prepare fixtures faster than any public
API could, and they are bench code, not queue code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from queuectl import db, settings
from queuectl.db import migrate

__all__ = ["Scratch", "load_jobs", "reset", "scratch_database", "vacuum_analyze"]


@dataclass(frozen=True)
class Scratch:
    """The scratch database: its name, a URL for the CLI and a pooled engine for the bench."""

    name: str
    url: str
    target: settings.DatabaseTarget
    engine: sa.Engine


def _admin_engine(admin_url: str) -> tuple[settings.DatabaseTarget, sa.Engine]:
    target = settings.resolve_database(admin_url)
    engine = sa.create_engine(db.sa_url(target), isolation_level="AUTOCOMMIT", poolclass=NullPool,
                              connect_args={"application_name": "queuectl-bench"})
    return target, engine


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[Scratch]:
    """Create, migrate, yield and finally drop (WITH FORCE) a fresh `qbench_*` database."""
    admin_target, admin = _admin_engine(admin_url)
    name = "qbench_" + secrets.token_hex(4)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = None
    try:
        url = db.sa_url(admin_target).set(database=name)
        target = dataclasses.replace(admin_target, dsn=url.render_as_string(hide_password=False),
                                     source="the bench's scratch database")
        engine = db.create_engine(target, pooled=True, pool_size=2)
        migrate.migrate(engine)
        cli_url = target.render()  # keeps prepared_statements=on for the workers
        yield Scratch(name, cli_url, target, engine)
    finally:
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reset(engine: sa.Engine) -> None:
    """Empty the job, metric and worker tables (config is kept)."""
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE jobs, job_deps, metrics, workers RESTART IDENTITY"))


_LOAD_PENDING = sa.text(
    """
    INSERT INTO jobs (id, command, state, max_retries, run_at, created_at, updated_at)
    SELECT 'p' || lpad(g::text, 9, '0'), 'true', 'pending', 3,
           now() - (:n - g) * interval '1 millisecond', now(), now()
    FROM generate_series(1, :n) AS g
    """
)

_LOAD_COMPLETED = sa.text(
    """
    INSERT INTO jobs (id, command, state, attempts, max_retries, run_at, created_at,
                      updated_at, started_at, finished_at, exit_code, duration, output)
    SELECT 'c' || lpad(g::text, 9, '0'), 'true', 'completed', 1, 3,
           now() - interval '1 day', now() - interval '1 day', now(), now(), now(),
           0, 0.002, ''
    FROM generate_series(1, :n) AS g
    """
)


def load_jobs(engine: sa.Engine, *, pending: int, completed: int = 0) -> None:
    """Insert `pending` claimable jobs (distinct run_at, oldest first) and `completed`
    finished ones, in one transaction."""
    with engine.begin() as conn:
        if completed:
            conn.execute(_LOAD_COMPLETED, {"n": completed})
        if pending:
            conn.execute(_LOAD_PENDING, {"n": pending})


def vacuum_analyze(engine: sa.Engine) -> None:
    """VACUUM ANALYZE the jobs table so the planner and visibility map reflect the load, then
    CHECKPOINT so writing out the load does not compete with what is measured next."""
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE jobs"))
        try:
            conn.execute(sa.text("CHECKPOINT"))
        except sa.exc.DBAPIError:
            pass  # not allowed for this role: measure anyway
