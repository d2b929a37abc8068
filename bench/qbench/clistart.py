"""CLI start-up (issue 13): the median wall time of whole `queuectl` processes against the
floors a Python program cannot beat, and how soon `worker start` takes its first job.

Every command runs `repeats` times, round-robin with the floors, so a change in the machine's
load during the section touches all of them alike; the ratios are what the targets judge.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from qbench import procs, scratch

__all__ = ["measure"]


def _queuectl() -> list[str]:
    """The installed entry point next to this Python (what a user runs), else `-m queuectl`."""
    script = Path(sys.executable).with_name("queuectl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "queuectl"]


def _cases(url: str) -> dict[str, list[str]]:
    py, q = sys.executable, [*_queuectl(), "--database-url", url]
    return {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import typer'": [py, "-c", "import typer"],
        "floor: psycopg connect + select 1": [
            py, "-c", f"import psycopg; psycopg.connect({url!r}).execute('select 1')"],
        "queuectl --help": [*q, "--help"],
        "queuectl --version": [*q, "--version"],
        "queuectl enqueue JSON": [*q, "enqueue", json.dumps({"command": "true"})],
        "queuectl status": [*q, "status"],
        "queuectl list": [*q, "list", "--limit", "20"],
    }


def _wall(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def _first_job_delay(sc: scratch.Scratch, work_dir: Path, runs: int) -> list[float]:
    """Seconds from launching `worker start` to the first job's started_at, `runs` times
    (the job waits in the queue before the command is typed)."""
    delays = []
    for i in range(runs):
        scratch.reset(sc.engine)
        with sc.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO jobs (id, command, max_retries)"
                                 " VALUES (:id, 'true', 0)"), {"id": f"first-{i}"})
        with procs.Workers(sc, log_dir=work_dir, label=f"first-job-{i}") as workers:
            launched = datetime.now(UTC)
            workers.start(count=1)
            deadline = time.monotonic() + 30
            started = None
            while started is None and time.monotonic() < deadline:
                workers.check()
                with sc.engine.connect() as conn:
                    started = conn.execute(sa.text(
                        "SELECT started_at FROM jobs WHERE id = :id"), {"id": f"first-{i}"}
                    ).scalar()
                time.sleep(0.01)
        if started is None:
            raise procs.WorkerError("worker start took no job within 30 s")
        delays.append((started - launched).total_seconds())
    return delays


def _compile_queuectl() -> None:
    """Write queuectl's bytecode, as an installation does: with PYTHONDONTWRITEBYTECODE set
    (some shells and containers set it) every run would compile the package from source."""
    import compileall

    import queuectl

    compileall.compile_dir(str(Path(queuectl.__file__).parent), quiet=1)


def measure(sc: scratch.Scratch, work_dir: Path, repeats: int) -> list[dict]:
    """One row per command: median, min and max wall time in ms; then the first-job row."""
    _compile_queuectl()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["QUEUECTL_HOME"] = str(work_dir / "home")
    cases = _cases(sc.url)
    for argv in cases.values():  # warm the page cache and .pyc files; untimed
        _wall(argv, env)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, argv in cases.items():
            times[name].append(_wall(argv, env) * 1000)
    rows = [{"command": name, "repeats": repeats, "median_ms": statistics.median(ts),
             "min_ms": min(ts), "max_ms": max(ts)} for name, ts in times.items()]
    delays = [d * 1000 for d in _first_job_delay(sc, work_dir, max(3, repeats // 5))]
    rows.append({"command": "worker start -> first job started", "repeats": len(delays),
                 "median_ms": statistics.median(delays), "min_ms": min(delays),
                 "max_ms": max(delays)})
    return rows
