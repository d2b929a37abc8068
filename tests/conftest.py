"""Shared fixtures: a real PostgreSQL, a fresh database per test module, the real CLI.

Where the database server comes from, in order:
1. `QUEUECTL_TEST_DATABASE_URL` (its server is used; databases are created beside it);
2. a Docker engine, via testcontainers, when one answers;
3. the local server at 127.0.0.1:5432 as user postgres.

A session fixture migrates a template database once; each test module gets its own database
cloned from it (`CREATE DATABASE ... TEMPLATE`), dropped at the end.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from queuectl import db, settings
from queuectl.db import migrate, models

ROOT = Path(__file__).resolve().parent.parent
QUEUECTL = [sys.executable, "-m", "queuectl"]


#: Folders whose tests make the fast lane (`./verify.sh --quick`, `pytest -m quick`): pure logic,
#: the worker's parts against the in-memory fake store, the SQL snapshots, and the CLI in
#: process (typer's CliRunner). None starts a worker or a `queuectl` subprocess.
QUICK_DIRS = ("unit", "sql", "cli/inprocess")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the fast lane's tests `quick`, by folder."""
    tests = Path(__file__).resolve().parent
    quick = tuple(tests / d for d in QUICK_DIRS)
    for item in items:
        path = Path(item.fspath).resolve()
        if any(path.is_relative_to(q) for q in quick):
            item.add_marker(pytest.mark.quick)


def wait_for(cond: Callable[[], object], timeout: float = 20.0, interval: float = 0.02,
             message: str = "condition") -> object:
    """Poll `cond` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # any failure means "no engine": fall back to a local server
        return False


def _server_url() -> tuple[str, object | None]:
    env = os.environ.get("QUEUECTL_TEST_DATABASE_URL")
    if env:
        return env, None
    if os.environ.get("QUEUECTL_TEST_NO_DOCKER") != "1" and _docker_available():
        if os.environ.get("TESTCONTAINERS_HOST_OVERRIDE") or os.environ.get("TC_HOST"):
            # Inside a container (/.dockerenv), testcontainers would ignore the override and
            # dial the bridge gateway, where an engine started with --ip 127.0.0.1 publishes
            # nothing: an explicit host means "that host, the mapped port".
            os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
        from testcontainers.community.postgres import PostgresContainer

        container = PostgresContainer("postgres:16-alpine", driver=None)
        container.start()
        return container.get_connection_url(), container
    return "postgresql://postgres@127.0.0.1:5432/postgres", None


def _admin(url: str) -> psycopg.Connection:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(plain, autocommit=True)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL server the tests may create databases on."""
    url, container = _server_url()
    yield url
    if container is not None:
        container.stop()


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> Iterator[str]:
    """Name of a migrated template database, made once per session."""
    name = f"qtest_tmpl_{os.getpid()}"
    with _admin(pg_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = db.create_engine(settings.DatabaseTarget(make_url(
        _with_database(pg_server, name)).set(drivername="postgresql+psycopg"), "tests"))
    migrate.migrate(engine)
    engine.dispose()
    yield name
    with _admin(pg_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(pg_server: str, template_db: str, label: str) -> str:
    """Create a fresh database cloned from the template; returns its URL."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower())[-30:]
    name = f"qt_{slug}_{uuid.uuid4().hex[:6]}"
    with _admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    return _with_database(pg_server, name)


def drop_database(pg_server: str, url: str) -> None:
    """Drop a database made by `create_database`, ending its connections."""
    name = make_url(url).database
    with _admin(pg_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def db_url(request, pg_server: str, template_db: str) -> Iterator[str]:
    """URL (postgresql://) of a fresh database for this test module."""
    url = create_database(pg_server, template_db, request.module.__name__)
    yield url
    drop_database(pg_server, url)


@pytest.fixture(scope="module")
def engine(db_url: str) -> Iterator[sa.Engine]:
    """A queuectl engine on the module's database."""
    eng = db.create_engine(settings.resolve_database(db_url))
    yield eng
    eng.dispose()


#: Every table of the schema, for `clean`. No migration seeds a row (the defaults live in
#: code, `configkeys`), so emptying all of them leaves the database as `migrate` made it; the
#: standalone sequence job_run_id_seq is not reset (run ids only need to be unique).
_TRUNCATE_ALL = "TRUNCATE {} RESTART IDENTITY CASCADE".format(
    ", ".join(t.name for t in models.metadata.sorted_tables))


@pytest.fixture
def clean(engine: sa.Engine) -> sa.Engine:
    """The module's database with every table emptied before the test."""
    with engine.begin() as conn:
        conn.execute(sa.text(_TRUNCATE_ALL))
    return engine


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running the real CLI against the module's database."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE")}
    e["QUEUECTL_DATABASE_URL"] = db_url
    e["QUEUECTL_HOME"] = str(tmp_path / "home")
    e["PYTHONUNBUFFERED"] = "1"
    return e


@pytest.fixture
def cli(env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    """Run `queuectl ARGS...` as a real subprocess; returns the completed process."""

    def run(*args: str, input: str | None = None, timeout: float = 60,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*QUEUECTL, *args], input=input, capture_output=True, text=True,
            env={**env, **(extra_env or {})}, timeout=timeout, cwd=ROOT,
        )

    return run


class WorkerPool:
    """Worker processes (`queuectl worker run`) started by a test and stopped after it."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self, count: int = 1, *args: str) -> list[subprocess.Popen]:
        started = []
        for _ in range(count):
            log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")
            proc = subprocess.Popen(
                [*QUEUECTL, "worker", "run", *args], env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            log.close()
            self.procs.append(proc)
            started.append(proc)
        return started

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop(self, timeout: float = 30) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerPool]:
    """Start real worker processes with `workers.start(n, *args)`; stopped at teardown."""
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    pool = WorkerPool(env, log_dir)
    yield pool
    pool.stop()
