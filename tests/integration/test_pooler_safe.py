"""The pooler-safe database layer against a real PostgreSQL (direct connections): prepared
statements only when the URL allows them, recovery from prepared-statement errors, advisory
locks that live and die with one transaction, and times that ignore the session time zone.
The PgBouncer end of it is tests/robustness/test_pgbouncer.py."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from queuectl import db, errors, settings, store
from queuectl.core.jobspec import JobSpec
from queuectl.db import migrate, models
from queuectl.store import config as store_config
from tests.conftest import wait_for

_PREPARED = sa.text("SELECT count(*) FROM pg_prepared_statements")
# What a transaction pooler does to a client: the next server connection lacks its prepared
# statements. Inside DO, so that psycopg does not notice and forget them itself.
_LOSE_PREPARED = sa.text("DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$")
_WAITING_ADVISORY = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")


@pytest.fixture
def worker_engine(db_url: str, request) -> Iterator[sa.Engine]:
    """A worker-shaped engine (one connection) on the module's database; the test's parameter
    is the value of `prepared_statements` in the URL."""
    engine = db.create_engine(
        settings.resolve_database(f"{db_url}?prepared_statements={request.param}"), worker=True)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE jobs, job_deps, metrics, workers"))
    yield engine
    engine.dispose()


def _claim(engine: sa.Engine, job_id: str) -> store.Claimed:
    store.enqueue_jobs(engine, specs=[JobSpec(job_id, "true")])
    [claimed] = store.claim_jobs(engine, worker_id=1, limit=1, lease_seconds=30)
    return claimed


def _prepared_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        count = int(conn.execute(_PREPARED).scalar_one())
        conn.commit()  # a ROLLBACK would make psycopg deallocate (and forget) them all
    return count


@pytest.mark.parametrize("worker_engine", ["off"], indirect=True)
def test_no_server_side_prepared_statements_by_default(worker_engine):
    held = []
    for i in range(8):  # more than psycopg's threshold for preparing on its own
        held.append(_claim(worker_engine, f"p{i}").run_id)
        store.heartbeat(worker_engine, worker_id=1, run_ids=held, lease_seconds=30)
    assert _prepared_count(worker_engine) == 0


@pytest.mark.parametrize("worker_engine", ["on"], indirect=True)
def test_hot_statement_prepared_when_allowed_and_recovers_when_the_server_loses_it(
        worker_engine, caplog):
    _claim(worker_engine, "a")
    assert _prepared_count(worker_engine) >= 1
    with worker_engine.connect() as conn:
        conn.execute(_LOSE_PREPARED)
        conn.commit()
    with caplog.at_level(logging.WARNING, logger="queuectl.db"):
        assert _claim(worker_engine, "b").id == "b"  # run again, unprepared
        assert _claim(worker_engine, "c").id == "c"
    assert not db.prepares_statements(worker_engine)
    [line] = [r.getMessage() for r in caplog.records]
    assert "prepared statements failed" in line and "\n" not in line


@pytest.mark.parametrize("worker_engine", ["on"], indirect=True)
def test_lost_auto_prepared_statement_drops_the_connection_like_an_outage(worker_engine):
    query = sa.text("SELECT count(*) FROM jobs WHERE state = :s")
    with worker_engine.connect() as conn:
        for _ in range(6):  # psycopg prepares it on its own from the 5th run
            conn.execute(query, {"s": "pending"})
        conn.execute(_LOSE_PREPARED)
        with pytest.raises(sa_exc.DBAPIError) as info:
            conn.execute(query, {"s": "pending"})
    assert db.is_disconnect(info.value)  # callers ride it out as a lost connection
    assert not db.prepares_statements(worker_engine)
    with worker_engine.connect() as conn:  # a fresh connection, which prepares nothing
        for _ in range(6):
            conn.execute(query, {"s": "pending"})
        assert conn.execute(_PREPARED).scalar_one() == 0


def _finished_long_ago(engine: sa.Engine, count: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE jobs, job_deps, metrics"))
        conn.execute(sa.text(
            "INSERT INTO jobs (id, command, state, max_retries, finished_at) "
            "SELECT 'old' || g, 'true', 'completed', 3, now() - interval '2 days' "
            "FROM generate_series(1, :n) g"), {"n": count})


def _hold(engine: sa.Engine, key: int) -> sa.Connection:
    """A connection inside a transaction holding the transaction-scoped advisory lock."""
    conn = engine.connect()
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    return conn


def _waiters(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(_WAITING_ADVISORY).scalar_one())


def _in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def test_one_pruner_at_a_time(clean):
    _finished_long_ago(clean, 3)
    holder = _hold(clean, store_config._PRUNE_LOCK)
    try:
        assert store.prune(clean, older_than=3600, wait=False) is None  # the worker's way
        thread, out = _in_thread(lambda: store.prune(clean, older_than=3600))
        wait_for(lambda: _waiters(clean) == 1, message="prune to wait for the lock")
        assert not out
    finally:
        holder.rollback()
        holder.close()
    thread.join(20)
    assert out == [(3, 0)]
    assert _waiters(clean) == 0


def test_one_migrator_at_a_time_and_no_lock_outlives_it(engine):
    holder = _hold(engine, migrate._LOCK_KEY)
    try:
        thread, out = _in_thread(lambda: migrate.migrate(engine))
        wait_for(lambda: _waiters(engine) == 1, message="migrate to wait for the lock")
        assert not out
    finally:
        holder.rollback()
        holder.close()
    thread.join(20)
    assert out == [models.SCHEMA_HEAD]
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar_one() == 0


def test_times_do_not_depend_on_the_session_time_zone(db_url, engine, cli):
    name = engine.url.database
    with engine.connect() as conn:  # a server default no pooler would change per client
        conn.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone = 'Asia/Kathmandu'"))
        conn.commit()
    try:
        run_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        spec = {"id": "tz", "command": "true", "run_at": run_at.isoformat()}
        assert cli("enqueue", json.dumps(spec)).returncode == 0
        shown = json.loads(cli("show", "tz", "--json").stdout)
        assert datetime.fromisoformat(shown["run_at"]) == run_at
        assert shown["run_at"].endswith("+00:00") or shown["run_at"].endswith("Z")
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE \"{name}\" RESET timezone"))
            conn.commit()


def _session_timeout(conn: sa.Connection) -> tuple[int, str]:
    row = conn.execute(sa.text(
        "SELECT pg_backend_pid(), current_setting('statement_timeout')")).one()
    conn.commit()
    return row[0], row[1]


def test_the_dashboard_time_limit_never_outlives_a_transaction(clean, db_url):
    # What a transaction pooler would hand the next client is the server connection as the
    # dashboard left it: one pooled connection here, so every call below shares it.
    target = settings.resolve_database(db_url)
    engine = db.create_engine(target, pooled=True, pool_size=1)
    store.limit_statement_time(engine, seconds=0.5)
    plain = db.create_engine(target)
    with plain.connect() as conn:
        default = _session_timeout(conn)[1]
    plain.dispose()
    try:
        with engine.connect() as conn:
            pid = _session_timeout(conn)[0]
        store.dashboard_overview(engine)
        store.collect_metrics(engine)
        store.expired_runs(engine)  # an autocommit path
        with engine.connect() as conn:
            assert _session_timeout(conn) == (pid, default)
        with clean.connect() as locker:  # and the limit does hold, in autocommit mode too
            locker.execute(sa.text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(errors.DatabaseError, match="statement timeout"):
                store.expired_runs(engine)
            locker.rollback()
        with engine.connect() as conn:
            assert _session_timeout(conn) == (pid, default)
    finally:
        engine.dispose()
