"""A server that turns read-only (as a demoted primary or a replica would) is an outage for
a worker, under the same backoff as any other: bounded connection attempts, one clear line
naming the hosts, no "back" until a writable server is, and jobs run once it is."""

from __future__ import annotations

import time

import psycopg
import pytest
from pgcluster import report
from sqlalchemy.engine import make_url
from tcpcount import CountingProxy

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.cli.checks import userinfo
from tests.cli.inprocess.test_multihost import closed_port
from tests.conftest import wait_for

pytestmark = pytest.mark.slow


def test_a_read_only_server_is_an_outage_with_bounded_attempts(clean, env, workers, db_url,
                                                               pg_server):
    url = make_url(db_url)
    proxy = CountingProxy((url.host or "127.0.0.1", url.port or 5432))
    admin = psycopg.connect(make_url(pg_server).set(drivername="postgresql")
                            .render_as_string(hide_password=False), autocommit=True)
    database = url.database
    closed = closed_port()
    hosts = f"127.0.0.1:{closed},127.0.0.1:{proxy.port}"
    try:
        env["QUEUECTL_DATABASE_URL"] = f"postgresql://{userinfo(db_url)}@{hosts}/{database}"
        workers.start(1)
        store.enqueue_jobs(clean, specs=[JobSpec("before", "true")])
        wait_for(lambda: store.get_job(clean, job_id="before").state is JobState.COMPLETED,
                 timeout=30, message="a job done while the server is writable")

        admin.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
        outage = time.monotonic()
        wait_for(lambda: time.monotonic() - outage >= 3, timeout=10, interval=0.1,
                 message="the first 3 s of read-only")
        window = time.monotonic()
        wait_for(lambda: time.monotonic() - window >= 10, timeout=15, interval=0.1,
                 message="10 more seconds of read-only")
        attempts = proxy.count_since(window)
        logs = workers.logs()
        report("read-only server (13 s, 1 worker)", attempts_last_10s=attempts)
        assert attempts <= 10, logs
        assert "Traceback" not in logs
        assert logs.count("database unavailable") == 1, logs
        assert "database is back" not in logs, logs
        # The first line gives the first reason (its connection was ended); the next one says
        # why the worker stays away, naming every host.
        reasons = [ln for ln in logs.splitlines() if "database still unavailable" in ln]
        assert len(reasons) == 1, logs
        assert (f"no writable server among 2 hosts (127.0.0.1:{closed}: Connection refused; "
                f"127.0.0.1:{proxy.port}: session is read-only)") in reasons[0], reasons

        admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        store.enqueue_jobs(clean, specs=[JobSpec("after", "true")])
        wait_for(lambda: store.get_job(clean, job_id="after").state is JobState.COMPLETED,
                 timeout=30, message="a job done once the server is writable again")
        assert workers.logs().count("database is back") == 1
    finally:
        admin.execute(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')
        admin.close()
        proxy.close()
