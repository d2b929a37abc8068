"""Helpers and fixtures for the robustness tests: private clusters, workers, ledgers.

Tests that restart or cut off PostgreSQL must not touch the shared server other suites use, so
they start a private cluster of their own (`PgCluster`): initdb into a directory under /var/tmp
owned by the `postgres` user, a free port, torn down (stop -m immediate, rm -rf) even when the
test fails.

Jobs prove that they ran by appending to a ledger file, one line per event:
`S <job id> <worker pid>` when a run starts and `E`/`F <job id> <worker pid> <ppid now> <uptime>`
when it ends (E = success, F = failure). `ppid now` is the shell's parent *at the end* of the
run: if it differs from the worker pid, the job kept running after its worker died, and
`uptime` (/proc/uptime) says for how long.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from queuectl import db, settings, store
from queuectl.core import jobspec
from queuectl.db import migrate
from tests.conftest import wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ROOT = Path(__file__).resolve().parents[2]
QUEUECTL = [sys.executable, "-m", "queuectl"]

#: Figures the slow tests report; printed in the terminal summary.
FIGURES: list[tuple[str, dict]] = []


def report(name: str, **figures: object) -> None:
    """Record figures for the terminal summary (and print them for -s runs)."""
    FIGURES.append((name, figures))
    print(f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def wait_until(cond: Callable[[], object], timeout: float, message: str,
               interval: float = 0.05) -> object:
    """Poll `cond` until truthy; fail with `message` after `timeout` seconds."""
    return wait_for(cond, timeout=timeout, interval=interval, message=message)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --- a private PostgreSQL cluster ------------------------------------------------------------


def cluster_unavailable() -> str | None:
    """Why a private cluster cannot be made here (it runs as root via `runuser -u postgres`)."""
    if os.geteuid() != 0:
        return "a private PostgreSQL cluster needs root (it runs as user postgres via runuser)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no user 'postgres' here to run a private PostgreSQL cluster as"
    if not (PG_BIN / "initdb").is_file():
        return f"no PostgreSQL 15 server binaries in {PG_BIN}"
    return None


def _as_postgres(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True,
                          text=True, check=True, timeout=120, **kw)


class PgCluster:
    """A PostgreSQL 15 cluster of our own, listening on `host:port`."""

    def __init__(self, host: str = "127.0.0.1", *, hba_net: str | None = None) -> None:
        self.host = host
        self.port = free_port("127.0.0.1")
        self.dir = Path(tempfile.mkdtemp(prefix="queuectl-pg-", dir="/var/tmp"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8")
        if hba_net:
            with open(self.data / "pg_hba.conf", "a") as f:
                f.write(f"host all all {hba_net} trust\n")
        self.opts = (f"-p {self.port} -k {self.dir} -c listen_addresses={host} -c fsync=off "
                     "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self.start()

    def _ctl(self, *args: str) -> None:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                     "-o", self.opts, "-w", "-t", "60", *args)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast` ends sessions; `immediate` is a crash)."""
        self._ctl("stop", "-m", mode)

    def restart(self) -> None:
        """Restart the server: every session is ended."""
        self._ctl("restart", "-m", "fast")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.url(), autocommit=True)

    def create_queue_db(self, name: str = "queuectl") -> str:
        """Create a database and migrate it; returns its URL."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url(name)
        engine = db.create_engine(settings.resolve_database(url))
        try:
            migrate.migrate(engine)
        finally:
            engine.dispose()
        return url

    def destroy(self) -> None:
        """Stop (hard) and delete everything; never raises."""
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster on 127.0.0.1 that the test may stop and restart."""
    if reason := cluster_unavailable():
        pytest.skip(reason)
    cluster = PgCluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


# --- worker processes ------------------------------------------------------------------------


def worker_env(url: str, home: Path) -> dict[str, str]:
    """Environment for queuectl processes on `url`."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE")}
    e.update(QUEUECTL_DATABASE_URL=url, QUEUECTL_HOME=str(home), PYTHONUNBUFFERED="1")
    return e


class Workers:
    """Real `queuectl worker run` processes; every one is killed at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.killed: dict[int, float] = {}  # pid -> time.time() of its SIGKILL
        self.killed_boot: dict[int, float] = {}  # pid -> CLOCK_BOOTTIME of its SIGKILL

    def start(self, *args: str, prefix: list[str] | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(self.log_dir / f"worker-{len(self.procs):04d}.log", "wb") as log:
            proc = subprocess.Popen(
                [*(prefix or []), *QUEUECTL, "worker", "run", *args], env=env or self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def live(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def crash(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker process alone (its jobs run in sessions of their own)."""
        self.killed[proc.pid] = time.time()
        self.killed_boot[proc.pid] = time.clock_gettime(time.CLOCK_BOOTTIME)
        proc.kill()
        proc.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")
                         for p in sorted(self.log_dir.glob("worker-*.log")))

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.logs().splitlines()[-n:])

    def stop(self, timeout: float = 20) -> None:
        for p in self.live():
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def make_workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Workers]]:
    pools: list[Workers] = []

    def make(env: dict[str, str], name: str = "workers") -> Workers:
        pool = Workers(env, tmp_path / name)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.stop()


# --- jobs and their ledger -------------------------------------------------------------------


def run_cli(env: dict[str, str], *args: str, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*QUEUECTL, *args], input=input, capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def configure(engine: sa.Engine, **values: str) -> None:
    """Set config keys as `queuectl config set` would (values with unit suffixes)."""
    from queuectl.core import configkeys

    for name, raw in values.items():
        key, value = configkeys.parse(name, raw)
        store.set_config(engine, key=key, value=value)


def engine_for(url: str) -> sa.Engine:
    return db.create_engine(settings.resolve_database(url))


def enqueue(engine: sa.Engine, jobs: list[dict]) -> None:
    import json

    store.enqueue_jobs(engine, specs=jobspec.parse_payload(json.dumps(jobs)))


def q(text: str) -> str:
    """Quote for /bin/sh."""
    return "'" + text.replace("'", "'\\''") + "'"


def ok_command(job_id: str, ledger: Path, sleep: str = "0.05") -> str:
    """A run that writes S, sleeps, writes E and succeeds."""
    end = (f"read -r _ _ _ p _ < /proc/$$/stat; read -r up _ < /proc/uptime; "
           f"echo \"E {job_id} $PPID $p $up\" >> {q(str(ledger))}")
    return (f"echo \"S {job_id} $PPID\" >> {q(str(ledger))}; sleep {sleep}; {end}")


def flaky_command(job_id: str, ledger: Path, markers: Path, sleep: str = "0.05") -> str:
    """Fails its first finished run (leaving a marker file), then succeeds."""
    marker = q(str(markers / job_id))
    led = q(str(ledger))
    now = "read -r _ _ _ p _ < /proc/$$/stat; read -r up _ < /proc/uptime"
    return (f"echo \"S {job_id} $PPID\" >> {led}; sleep {sleep}; "
            f"if [ -e {marker} ]; then {now}; echo \"E {job_id} $PPID $p $up\" >> {led}; exit 0; "
            f"fi; touch {marker}; {now}; echo \"F {job_id} $PPID $p $up\" >> {led}; exit 1")


def fail_command(job_id: str, ledger: Path, sleep: str = "0.05") -> str:
    """Always fails with exit code 3."""
    led = q(str(ledger))
    return (f"echo \"S {job_id} $PPID\" >> {led}; sleep {sleep}; "
            f"read -r _ _ _ p _ < /proc/$$/stat; read -r up _ < /proc/uptime; "
            f"echo \"F {job_id} $PPID $p $up\" >> {led}; exit 3")


@dataclass
class Run:
    """One run of a job as the ledger saw it."""

    worker_pid: int
    end: str | None = None  # "E", "F" or None (cut off)
    ppid_at_end: int | None = None
    ended_at: float | None = None  # CLOCK_BOOTTIME seconds (/proc/uptime) at the end


@dataclass
class Ledger:
    """The ledger, parsed: runs per job in order, plus lines that match no start."""

    runs: dict[str, list[Run]] = field(default_factory=lambda: defaultdict(list))
    orphan_ends: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Ledger:
        ledger = cls()
        open_runs: dict[tuple[str, int], list[Run]] = defaultdict(list)
        if not path.exists():
            return ledger
        for line in path.read_text().splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "S":  # ids may hold spaces: the pids are the last fields
                job_id, run = " ".join(parts[1:-1]), Run(int(parts[-1]))
                ledger.runs[job_id].append(run)
                open_runs[(job_id, run.worker_pid)].append(run)
            else:
                job_id = " ".join(parts[1:-3])
                pending = open_runs.get((job_id, int(parts[-3])))
                if not pending:
                    ledger.orphan_ends.append(line)
                    continue
                run = pending.pop(0)
                run.end, run.ppid_at_end = parts[0], int(parts[-2])
                run.ended_at = float(parts[-1])
        return ledger

    def ends(self, job_id: str, kind: str) -> int:
        return sum(1 for r in self.runs.get(job_id, []) if r.end == kind)


def job_rows(engine: sa.Engine) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.text(
            "SELECT id, state, attempts, max_retries, exit_code, error, finished_at FROM jobs"))}


def metric_rows(engine: sa.Engine) -> dict[str, list[sa.Row]]:
    out: dict[str, list[sa.Row]] = defaultdict(list)
    with engine.connect() as conn:
        for r in conn.execute(sa.text(
                "SELECT job_id, run_id, attempt, outcome, exit_code, worker_id, finished_at "
                "FROM metrics ORDER BY id")):
            out[r.job_id].append(r)
    return out


def state_counts(engine: sa.Engine) -> Counter:
    with engine.connect() as conn:
        return Counter(dict(conn.execute(sa.text(
            "SELECT state, count(*) FROM jobs GROUP BY state")).all()))


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A world-writable scratch directory (ledgers, markers) removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="queuectl-scratch-", dir="/var/tmp"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)

