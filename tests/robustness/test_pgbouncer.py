"""queuectl behind a real PgBouncer in transaction mode (Debian's 1.18: no prepared-statement
support), as users with many hosts run it.

PgBouncer runs on a free 127.0.0.1 port in front of the test server, with
`server_round_robin = 1` so that consecutive transactions of one client land on different
server connections: any session state queuectl relied on (startup options, session advisory
locks, prepared statements) would show at once. Skipped, with the reason, when pgbouncer is
not installed (`apt-get install pgbouncer`; verify.sh installs it as root) or cannot start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import drop_database
from tests.robustness.pgcluster import (
    QUEUECTL,
    ROOT,
    engine_for,
    free_port,
    metric_rows,
    run_cli,
    state_counts,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.slow

_PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class Bouncer:
    """A pgbouncer process in transaction mode in front of `server_url`'s server."""

    def __init__(self, server_url: str) -> None:
        server = make_url(server_url)
        self.dir = Path(tempfile.mkdtemp(prefix="queuectl-pgbouncer-", dir="/var/tmp"))
        self.port = free_port()
        self.user = server.username or "postgres"
        login = f" user={self.user}" + (f" password={server.password}" if server.password else "")
        (self.dir / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}{login}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir / 'users.txt'}\n"
            "pool_mode = transaction\nserver_round_robin = 1\n"
            # Two server connections from the start, so round robin has two to alternate
            # between even when the machine is too loaded for clients ever to overlap.
            "default_pool_size = 4\nmin_pool_size = 2\nmax_client_conn = 200\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n")
        self.dir.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            for f in self.dir.iterdir():
                shutil.chown(f, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen([*prefix, _PGBOUNCER, str(self.dir / "pgbouncer.ini")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def url(self, database: str, query: str = "") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}{query}"

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def ready(self, database: str) -> bool:
        if self.proc.poll() is not None:
            return True  # exited: the caller looks at the log
        try:
            psycopg.connect(self.url(database), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def bouncer_db(pg_server: str) -> Iterator[tuple[Bouncer, str, str]]:
    """(bouncer, direct URL, URL through the bouncer) of a fresh, empty database."""
    if not os.path.exists(_PGBOUNCER):
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; verify.sh "
                    "installs it when run as root)")
    name = f"qt_bouncer_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    with psycopg.connect(make_url(pg_server).set(drivername="postgresql")
                         .render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    direct = make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    bouncer = Bouncer(pg_server)
    try:
        wait_until(lambda: bouncer.ready(name), 20, "pgbouncer to accept connections")
        if bouncer.proc.poll() is not None:
            pytest.skip(f"pgbouncer did not start: {bouncer.log().strip()[-300:]}")
        yield bouncer, direct, bouncer.url(name)
    finally:
        bouncer.stop()
        drop_database(pg_server, direct)


def _start_workers(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [*QUEUECTL, "worker", "start", "--count", "2", "--concurrency", "4",
             "--no-listen"], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=ROOT)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _drain(url: str, direct: str, tmp_path: Path, jobs: int) -> str:
    """Enqueue `jobs` jobs through `url`, drain them with `worker start --count 2 --no-listen`
    through `url`, check each ran exactly once; returns the workers' log."""
    env = worker_env(url, tmp_path / "home")
    payload = [{"id": f"b{i:04d}", "command": "true"} for i in range(jobs)]
    enqueued = run_cli(env, "enqueue", "-", input=json.dumps(payload))
    assert enqueued.returncode == 0, enqueued.stderr
    engine = engine_for(direct)
    log_path = tmp_path / "workers.log"
    proc = _start_workers(env, log_path)
    try:
        wait_until(lambda: state_counts(engine)["completed"] == jobs or proc.poll() is not None,
                   120, f"{jobs} jobs completed")
        assert proc.poll() is None, log_path.read_text()
    finally:
        _stop(proc)
    log = log_path.read_text(errors="replace")
    metrics = metric_rows(engine)
    engine.dispose()
    assert state_counts(engine) == {"completed": jobs}
    assert {job_id: len(rows) for job_id, rows in metrics.items()} == {
        job["id"]: 1 for job in payload}, "each job must run exactly once"
    assert {r.outcome for rows in metrics.values() for r in rows} == {"completed"}
    assert "Traceback" not in log and not re.search(r"^\s+File \"", log, re.M), log[-3000:]
    assert "exited unexpectedly" not in log, log[-3000:]
    return log


def test_migrate_and_drain_through_pgbouncer_transaction_mode(bouncer_db, tmp_path):
    bouncer, direct, url = bouncer_db
    env = worker_env(url, tmp_path / "home")
    # Two migrators at once: one migrates, the other waits on the lock, then finds it done.
    migrators = [subprocess.Popen([*QUEUECTL, "migrate"], env=env, cwd=ROOT, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
    try:
        for m in migrators:
            out, err = m.communicate(timeout=60)
            assert m.returncode == 0 and "latest" in out, err
    finally:
        for m in migrators:
            if m.poll() is None:
                m.kill()
                m.wait()
    again = run_cli(env, "migrate")
    assert again.returncode == 0, again.stderr  # no lock left behind on a server connection

    log = _drain(url, direct, tmp_path, 500)
    assert "prepared statement" not in log

    pruned = run_cli(env, "prune", "--older-than", "1s", timeout=60)
    assert pruned.returncode == 0, pruned.stderr
    wait_until(lambda: run_cli(env, "prune", "--older-than", "1s").stdout.startswith(
        "Pruned 0 finished job(s) and 0 metric row(s)"), 30, "prune to finish the jobs")
    assert "unsupported startup parameter" not in bouncer.log()


def test_prepared_statements_behind_an_old_pgbouncer_fall_back_without_crashing(
        bouncer_db, tmp_path):
    """The user enabled prepared statements behind a pooler that cannot keep them: workers
    log one line, go on unprepared, and run every job exactly once."""
    bouncer, direct, url = bouncer_db
    migrated = run_cli(worker_env(url, tmp_path / "home"), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    log = _drain(bouncer.url(make_url(url).database, "?prepared_statements=on"), direct,
                 tmp_path, 200)
    fallbacks = [line for line in log.splitlines() if "prepared statements failed" in line]
    assert 1 <= len(fallbacks) <= 2, log[-3000:]  # one line per worker process, at most
