"""Multi-host URLs with real processes: a worker (`worker start`, so the wake-up relay too)
and the dashboard on a URL whose first host is a closed local port; and a server that turns
read-only under a live connection is an outage of that connection, never a refusal."""

from __future__ import annotations

import os
import signal
import subprocess

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from queuectl import db, errors, settings, store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.cli.inprocess.test_multihost import closed_port, comma_url, param_url
from tests.conftest import QUEUECTL, ROOT, wait_for
from tests.dashboard.conftest import serve  # noqa: F401 (fixture)


@pytest.mark.parametrize("form", ["comma", "parameters"])
def test_a_worker_runs_jobs_on_a_multi_host_url(clean, db_url, env, tmp_path, form):
    url = (comma_url(db_url, closed_port(), "target_session_attrs=read-write")
           if form == "comma" else param_url(db_url, closed_port()))
    env = {**env, "QUEUECTL_DATABASE_URL": url}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*QUEUECTL, "worker", "start"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    try:
        store.enqueue_jobs(clean, specs=[JobSpec("mh-worker", "echo hi")])
        wait_for(lambda: store.get_job(clean, job_id="mh-worker").state
                 is JobState.COMPLETED, timeout=30, message=f"the job done: {log.read_text()}")
        # Woken through the relay's LISTEN, on the same URL.
        store.enqueue_jobs(clean, specs=[JobSpec("mh-second", "true")])
        wait_for(lambda: store.get_job(clean, job_id="mh-second").state
                 is JobState.COMPLETED, timeout=30, message="the second job done")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    assert "Traceback" not in text and "unavailable" not in text, text


def test_the_dashboard_answers_on_a_multi_host_url(clean, db_url, serve):  # noqa: F811
    url = comma_url(db_url, closed_port())
    server = serve(global_args=("--database-url", url))
    answer = httpx.get(server.url + "/api/overview", timeout=10)
    assert answer.status_code == 200, answer.text
    assert "Traceback" not in server.output()


def _read_only_session(conn: sa.Connection) -> None:
    # Only this transaction is read-only: nothing the server reports says so, as when a
    # server is switched to read-only under connections it already had.
    conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def test_a_write_on_a_read_only_server_is_an_outage_of_that_connection(clean):
    with clean.connect() as conn:
        _read_only_session(conn)
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.exec_driver_sql("CREATE TEMP TABLE t (x int)")
    assert db.is_read_only_error(info.value) and db.is_disconnect(info.value)
    outage = db.translate(clean, info.value)
    assert isinstance(outage, errors.DatabaseUnavailable)
    assert "read-only" in str(outage) and "SQLSTATE" not in str(outage)
    assert db.target_of(clean).where in str(outage)


def test_a_pooled_connection_on_a_server_turned_read_only_is_replaced(db_url):
    engine = db.create_engine(settings.resolve_database(db_url), pooled=True, pool_size=1)
    try:
        with engine.connect() as conn:
            first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            # The server now reports default_transaction_read_only=on on this connection,
            # and still answers the pool's ping.
            conn.exec_driver_sql("SET default_transaction_read_only = on")
            conn.commit()
        with engine.connect() as conn:
            second = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            conn.exec_driver_sql("CREATE TEMP TABLE t (x int)")  # writable again
        assert second != first
    finally:
        engine.dispose()


def test_the_quick_path_turns_read_only_writes_into_an_outage(db_url):
    target = settings.resolve_database(db_url)
    with db.connect(target) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        with pytest.raises(errors.DatabaseUnavailable) as info:
            with db.translate_psycopg_errors(target):
                conn.execute("CREATE TEMP TABLE t (x int)")
    assert "read-only" in str(info.value) and target.where in str(info.value)
    assert isinstance(info.value.__cause__, psycopg.errors.ReadOnlySqlTransaction)
