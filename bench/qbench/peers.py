"""The same workload through queuectl and its peers, pgqueuer and procrastinate (issue 15).

Each peer is installed once into a virtualenv of its own, `bench/.peers/<name>`, from the
pinned `bench/peers/<name>.txt`, and driven by `bench/peers/driver.py` running in that venv. A
peer that cannot be installed is skipped with one line. Each queue gets its own scratch
database (created and dropped like the main one).

For each queue:
- drain: N jobs running `true` (through `sh -c`) are enqueued in one call; then ONE worker
  process with 4 slots is started, and the drain is timed from starting that process until a
  poll (every 20 ms, the same for all three) sees the last job done: start-up included.
- idle latency: a fresh worker process (4 slots) is started and one warm-up job run; then M
  jobs are enqueued one at a time, 20-50 ms apart. Job i runs
  `echo i $(date +%s%N) >> FILE`; latency = that shell's clock minus the client's clock just
  before the enqueue call (one machine, one clock), so it covers enqueue, wake-up, claim and
  the spawn of the shell, alike for all three.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from qbench import procs, report, scratch
from queuectl import store
from queuectl.core import jobspec

__all__ = ["PEERS", "SLOTS", "Peer", "latencies", "measure"]

SLOTS = 4
_HERE = Path(__file__).resolve().parents[1]
_DRIVER = _HERE / "peers" / "driver.py"


@dataclasses.dataclass(frozen=True)
class Peer:
    """A peer queue: its venv name, and SQL that counts its unfinished and failed jobs."""

    name: str
    left_sql: str
    failed_sql: str


PEERS = (
    # pgqueuer deletes a job from its queue table when it ends, and logs it in pgqueuer_log
    # (which it folds into pgqueuer_statistics now and then).
    Peer("pgqueuer", "SELECT count(*) FROM pgqueuer",
         "SELECT count(*) FROM pgqueuer_log WHERE status = 'exception'"),
    Peer("procrastinate",
         "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')",
         "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'"),
)


def latencies(enqueued: str, started: str) -> list[float]:
    """Milliseconds from each job's enqueue (lines `i ns` in `enqueued`) to its shell's start
    (lines `i ns` in `started`); jobs missing from either are left out."""
    def parse(text: str) -> dict[int, int]:
        out = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2:
                out[int(parts[0])] = int(parts[1])
        return out

    sent, began = parse(enqueued), parse(started)
    return [(began[i] - sent[i]) / 1e6 for i in sorted(sent) if i in began]


# --- the peers' venvs and driver ----------------------------------------------------------

def _python(name: str) -> tuple[Path | None, str]:
    """The peer venv's python, installing it first if needed; (None, reason) if it can't."""
    venv = _HERE / ".peers" / name
    python = venv / "bin" / "python"
    reqs = _HERE / "peers" / f"{name}.txt"
    marker = venv / ".installed"
    if marker.exists() and marker.read_text() == reqs.read_text():
        return python, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", str(reqs)], check=True, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        last = err.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
        return None, f"cannot install {name} from {reqs.name}: {last[0]}"
    marker.write_text(reqs.read_text())
    return python, ""


class _Driver:
    def __init__(self, python: Path, name: str, sc: scratch.Scratch, log: Path) -> None:
        self.python, self.name, self.log = python, name, log
        self.env = {**os.environ, "QBENCH_PEER_DSN": sc.target.conninfo}

    def call(self, *args: str) -> None:
        with open(self.log, "ab") as log:
            subprocess.run([str(self.python), str(_DRIVER), self.name, *args], env=self.env,
                           stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True,
                           timeout=600)

    def worker(self) -> subprocess.Popen:
        with open(self.log, "ab") as log:
            return subprocess.Popen([str(self.python), str(_DRIVER), self.name, "worker",
                                     str(SLOTS)], env=self.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait(count: Callable[[], tuple[int, int]], alive: Callable[[], None],
          timeout: float) -> None:
    """Poll every 20 ms until `count()` reports (0 left, 0 failed); raise on failures or
    timeout."""
    deadline = time.perf_counter() + timeout
    while True:
        left, failed = count()
        if failed:
            raise procs.WorkerError(f"{failed} job(s) failed")
        if left <= 0:
            return
        if time.perf_counter() > deadline:
            raise procs.WorkerError(f"{left} job(s) not done after {timeout:g}s")
        alive()
        time.sleep(0.02)


def _counter(sc: scratch.Scratch, peer: Peer) -> Callable[[], tuple[int, int]]:
    def count() -> tuple[int, int]:
        with sc.engine.connect() as conn:
            return (conn.execute(sa.text(peer.left_sql)).scalar_one(),
                    conn.execute(sa.text(peer.failed_sql)).scalar_one())
    return count


def _alive(proc: subprocess.Popen) -> Callable[[], None]:
    def check() -> None:
        if proc.poll() is not None:
            raise procs.WorkerError(f"worker exited with {proc.returncode}")
    return check


def _lines(path: Path) -> int:
    try:
        return len(path.read_text().splitlines())
    except OSError:
        return 0


def _peer(sc: scratch.Scratch, peer: Peer, python: Path, work: Path, n: int, m: int) -> dict:
    d = _Driver(python, peer.name, sc, work / f"peer-{peer.name}.log")
    d.call("install")
    d.call("enqueue", "true", str(n))
    count = _counter(sc, peer)
    start = time.perf_counter()
    proc = d.worker()
    try:
        _wait(count, _alive(proc), max(120.0, n / 10))
        drain = time.perf_counter() - start
    finally:
        _stop(proc)
    out = work / f"peer-{peer.name}-lat"
    proc = d.worker()
    try:
        d.call("enqueue", "true", "1")
        _wait(count, _alive(proc), 60)
        d.call("trickle", str(m), str(out))
        _wait(lambda: (m - _lines(Path(f"{out}.started")), 0), _alive(proc), 60)
    finally:
        _stop(proc)
    return _row(peer.name, n, drain, latencies(out.read_text(),
                                                 Path(f"{out}.started").read_text()))


def _queuectl(sc: scratch.Scratch, work: Path, n: int, m: int) -> dict:
    store.enqueue_jobs(sc.engine, specs=[jobspec.JobSpec(id=f"d{i:06d}", command="true")
                                         for i in range(n)])

    def count() -> tuple[int, int]:
        c = store.count_states(sc.engine)
        return c["pending"] + c["processing"], c["failed"] + c["dead"]

    with procs.Workers(sc, log_dir=work, label="peers-queuectl") as workers:
        start = time.perf_counter()
        workers.run(concurrency=SLOTS)
        _wait(count, workers.check, max(120.0, n / 10))
        drain = time.perf_counter() - start
    out = work / "peer-queuectl-lat"
    with procs.Workers(sc, log_dir=work, label="peers-queuectl-lat") as workers:
        workers.run(concurrency=SLOTS)
        store.enqueue_jobs(sc.engine, specs=[jobspec.JobSpec(id="warmup", command="true")])
        _wait(count, workers.check, 60)
        with open(out, "w") as f:
            for i in range(m):
                time.sleep(random.uniform(0.020, 0.050))
                command = f"echo {i} $(date +%s%N) >> {out}.started"
                f.write(f"{i} {time.time_ns()}\n")
                store.enqueue_jobs(sc.engine, specs=[jobspec.JobSpec(id=f"l{i:05d}",
                                                                     command=command)])
        _wait(lambda: (m - _lines(Path(f"{out}.started")), 0), workers.check, 60)
    return _row("queuectl", n, drain, latencies(out.read_text(),
                                                Path(f"{out}.started").read_text()))


def _row(name: str, n: int, drain: float, lat: list[float]) -> dict:
    return {"queue": name, "jobs": n, "slots": SLOTS, "drain_s": drain,
            "jobs_per_s": n / drain, "latency": report.summary(lat), "skipped": None}


def measure(admin_url: str, work: Path, n: int, m: int) -> list[dict]:
    """One row per queue (queuectl first); a peer that cannot be installed gets a row with
    `skipped` set to the reason."""
    with scratch.scratch_database(admin_url) as sc:
        rows = [_queuectl(sc, work, n, m)]
    for peer in PEERS:
        python, reason = _python(peer.name)
        if python is None:
            print(f"peers: skipping {peer.name}: {reason}", flush=True)
            rows.append({"queue": peer.name, "skipped": reason})
            continue
        with scratch.scratch_database(admin_url) as sc:
            rows.append(_peer(sc, peer, python, work, n, m))
    return rows


# --- table and targets --------------------------------------------------------------------

DRAIN_MIN_RATIO = 2.0  # queuectl's drain rate >= 2x pgqueuer's
LATENCY_MAX_RATIO = 0.5  # queuectl's idle p50 <= 0.5x pgqueuer's


def table(rows: list[dict]) -> None:
    """Drain rate and idle latency per queue, with queuectl's ratios."""
    ours = rows[0]
    out = []
    for r in rows:
        if r.get("skipped"):
            out.append([r["queue"], "skipped", "", "", "", "", r["skipped"]])
            continue
        out.append([r["queue"], r["jobs"], f"{r['drain_s']:.2f}", f"{r['jobs_per_s']:,.0f}",
                    f"{r['latency']['p50_ms']:.1f}", f"{r['latency']['p95_ms']:.1f}",
                    f"{ours['jobs_per_s'] / r['jobs_per_s']:.2f}x / "
                    f"{ours['latency']['p50_ms'] / r['latency']['p50_ms']:.2f}x"])
    report.print_section(
        f"peers: one worker process x {SLOTS} slots, jobs `sh -c true`",
        out, ["queue", "jobs", "drain s", "jobs/s", "idle p50 ms", "idle p95 ms",
              "queuectl rate / p50 vs this"],
        "drain = from starting the worker process to the last job done (start-up included);\n"
        "idle latency = client clock before the enqueue call -> `date` in the job's shell.")


def targets(rows: list[dict]) -> list[dict]:
    """queuectl vs pgqueuer: drain rate >= 2x, idle p50 <= 0.5x."""
    ours = rows[0]
    pgq = next((r for r in rows if r["queue"] == "pgqueuer" and not r.get("skipped")), None)
    if pgq is None:
        return []
    rate = ours["jobs_per_s"] / pgq["jobs_per_s"]
    lat = ours["latency"]["p50_ms"] / pgq["latency"]["p50_ms"]
    return [
        report.line(rate >= DRAIN_MIN_RATIO, "drain rate >= 2x pgqueuer's (1 process x 4)",
                    f"{rate:.2f}x", f"{rate - DRAIN_MIN_RATIO:+.2f}x"),
        report.line(lat <= LATENCY_MAX_RATIO, "idle enqueue->start p50 <= 0.5x pgqueuer's",
                    f"{lat:.2f}x", f"{LATENCY_MAX_RATIO - lat:+.2f}x"),
    ]
