"""A database outage must not become a connection storm (issue 17): workers whose database
refuses connections back off (full jitter, capped at 10 s), stay cheap, lose nothing, and
carry on once it is back."""

from __future__ import annotations

import os
import time

import psycopg
import pytest
from pgcluster import report
from sqlalchemy.engine import make_url
from tcpcount import CountingProxy

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import wait_for

pytestmark = pytest.mark.slow

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def test_refused_connections_get_backoff_not_a_storm(clean, cli, env, workers, db_url,
                                                     pg_server):
    url = make_url(db_url)
    proxy = CountingProxy((url.host or "127.0.0.1", url.port or 5432))
    admin = psycopg.connect(make_url(pg_server).set(drivername="postgresql")
                            .render_as_string(hide_password=False), autocommit=True)
    database = url.database
    try:
        assert cli("config", "set", "poll_interval", "0.2s").returncode == 0
        assert cli("config", "set", "heartbeat_interval", "1s").returncode == 0
        assert cli("config", "set", "lease_timeout", "60s").returncode == 0
        env["QUEUECTL_DATABASE_URL"] = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False)
        procs = workers.start(2)
        store.enqueue_jobs(clean, specs=[JobSpec("during", "sleep 4")])
        wait_for(lambda: store.get_job(clean, job_id="during").state is JobState.PROCESSING,
                 message="a job running when the outage starts")

        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
        outage = time.monotonic()
        wait_for(lambda: time.monotonic() - outage >= 5, timeout=10, interval=0.1,
                 message="the first 5 s of the outage")
        window = time.monotonic()
        cpu_before = {p.pid: cpu_seconds(p.pid) for p in procs}
        wait_for(lambda: time.monotonic() - window >= 10, timeout=15, interval=0.1,
                 message="10 more seconds of outage")
        attempts = proxy.count_since(window)
        cpu = {p.pid: cpu_seconds(p.pid) - cpu_before[p.pid] for p in procs}
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        back = time.monotonic()
        store.enqueue_jobs(clean, specs=[JobSpec("after", "true")])
        wait_for(lambda: store.count_states(clean)["completed"] == 2, timeout=15,
                 message="both jobs completed once the database is back")
        recovered = time.monotonic() - back
        report("outage (15 s, 2 workers)", attempts_last_10s=attempts,
               cpu_last_10s={k: round(v, 3) for k, v in cpu.items()},
               recovered_s=round(recovered, 2))
        assert all(p.poll() is None for p in procs), workers.logs()
        assert attempts <= 10 * len(procs)
        assert all(v < 0.3 for v in cpu.values()), cpu
        assert store.get_job(clean, job_id="during").attempts == 1  # not lost, not re-run
        logs = workers.logs()
        assert "Traceback" not in logs
        assert logs.count("database unavailable") == len(procs)  # one line each
        # Each worker notices at its next attempt: within the 10 s cap.
        wait_for(lambda: workers.logs().count("database is back") == len(procs), timeout=15,
                 message="each worker logs that the database is back")
    finally:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        admin.close()
        proxy.close()


def test_dashboard_answers_503_at_once_during_an_outage_without_a_storm(clean, db_url,
                                                                         pg_server):
    from queuectl import db, settings
    from tests.dashboard.conftest import serve_app

    url = make_url(db_url)
    proxy = CountingProxy((url.host or "127.0.0.1", url.port or 5432))
    admin = psycopg.connect(make_url(pg_server).set(drivername="postgresql")
                            .render_as_string(hide_password=False), autocommit=True)
    database = url.database
    engine = db.create_engine(settings.resolve_database(
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)),
        pooled=True,
        pool_size=4)
    try:
        with serve_app(engine) as server, server.client() as client:
            assert client.get("/api/overview").status_code == 200
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
            start = time.monotonic()
            answers = []
            while time.monotonic() - start < 5:  # a page and a scraper hammering it for 5 s
                t = time.monotonic()
                res = client.get("/api/overview" if len(answers) % 2 else "/metrics")
                answers.append((res.status_code, time.monotonic() - t))
            attempts = proxy.count_since(start)
            report("dashboard outage (5 s)", requests=len(answers),
                   connection_attempts=attempts,
                   slowest_s=round(max(t for _, t in answers), 3))
            assert {code for code, _ in answers} == {503}
            assert len(answers) > 50 and attempts <= 12  # not one per request
            assert max(t for _, t in answers) < 6  # connect_timeout bounds the slow ones
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            wait_for(lambda: client.get("/api/overview").status_code == 200, timeout=15,
                     message="the dashboard back once the database is")
    finally:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        admin.close()
        engine.dispose()
        proxy.close()
