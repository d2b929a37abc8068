"""Bulk enqueue rate: `store.enqueue_jobs` with all jobs in one call (building the JobSpecs
is not timed), and the CLI `queuectl enqueue -` fed a JSON array on stdin (timed as a whole
process: interpreter start-up, imports, schema check, parsing, insert, printing the ids).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from qbench import scratch
from queuectl import store
from queuectl.core import jobspec

__all__ = ["measure"]


def _library(sc: scratch.Scratch, n: int, repeats: int) -> dict:
    rates = []
    for r in range(repeats):
        scratch.reset(sc.engine)
        specs = [jobspec.JobSpec(id=f"bulk-{r}-{i:07d}", command="true") for i in range(n)]
        start = time.perf_counter()
        store.enqueue_jobs(sc.engine, specs=specs)
        rates.append(n / (time.perf_counter() - start))
    return {"path": "library: store.enqueue_jobs, one call", "jobs": n, "repeats": repeats,
            "jobs_per_s": statistics.median(rates), "best_jobs_per_s": max(rates),
            "all_jobs_per_s": rates}


def _cli_once(sc: scratch.Scratch, payload: Path, env: dict) -> float:
    argv = [sys.executable, "-m", "queuectl", "--database-url", sc.url, "enqueue", "-"]
    with open(payload, "rb") as stdin:
        start = time.perf_counter()
        subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, env=env, check=True)
        return time.perf_counter() - start


def _cli(sc: scratch.Scratch, n: int, work_dir: Path, repeats: int) -> list[dict]:
    env = {**os.environ, "QUEUECTL_HOME": str(work_dir / "home")}
    rows: list[dict] = []
    for size in (1, n):
        payload = work_dir / f"enqueue-{size}.json"
        payload.write_text(json.dumps(
            [{"id": f"cli-{i:07d}", "command": "true"} for i in range(size)]))
        times = []
        for _ in range(repeats + (size == 1)):  # one untimed warm-up run first
            scratch.reset(sc.engine)
            times.append(_cli_once(sc, payload, env))
        seconds = statistics.median(times[1:] if size == 1 else times)
        rows.append({"path": f"CLI: queuectl enqueue - ({size:,} job{'s' * (size > 1)})",
                     "jobs": size, "repeats": repeats, "seconds": seconds,
                     "jobs_per_s": size / seconds})
    fixed: float = rows[0]["seconds"]
    total: float = rows[1]["seconds"]
    if total > fixed:
        rows[1]["marginal_jobs_per_s"] = n / (total - fixed)
    return rows


def measure(sc: scratch.Scratch, work_dir: Path, n_library: int, n_cli: int,
            repeats: int) -> list[dict]:
    """Rows: the library path, then the CLI with 1 and `n_cli` jobs (medians of `repeats`;
    the 1-job CLI run is the fixed cost of one invocation)."""
    return [_library(sc, n_library, repeats), *_cli(sc, n_cli, work_dir, repeats)]
