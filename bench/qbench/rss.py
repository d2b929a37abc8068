"""Worker resident memory over a long run (issue 15): one `worker run --concurrency 4`,
VmRSS read from `/proc/<pid>/status` when it has registered, then after each phase:

1. the end-to-end workload (N `true` jobs, as section `e2e`);
2. a long run: 100,000 `true` jobs (quick: 5,000);
3. jobs printing 100 MB each (`head -c 100000000 /dev/zero | tr '\\0' x`; 8, quick 4).

Growth is judged from "registered" to the end (target < 10 MB); VmHWM (the peak) is recorded
too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from qbench import procs, report, scratch
from queuectl import store
from queuectl.core import jobspec

__all__ = ["BIG_OUTPUT", "Phase", "measure", "status_kb"]

BIG_OUTPUT = "head -c 100000000 /dev/zero | tr '\\0' x"
CONCURRENCY = 4


@dataclass(frozen=True)
class Phase:
    """`jobs` jobs running `command`."""

    name: str
    jobs: int
    command: str = "true"


def status_kb(text: str, key: str) -> int | None:
    """A `kB` field (VmRSS, VmHWM) of a `/proc/<pid>/status` text."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def _memory(pid: int) -> tuple[float, float]:
    text = Path(f"/proc/{pid}/status").read_text()
    return (status_kb(text, "VmRSS") or 0) / 1024, (status_kb(text, "VmHWM") or 0) / 1024


def _drain(sc: scratch.Scratch, workers: procs.Workers, phase: Phase, tag: str) -> float:
    specs = [jobspec.JobSpec(id=f"{tag}-{i:07d}", command=phase.command)
             for i in range(phase.jobs)]
    start = time.perf_counter()
    store.enqueue_jobs(sc.engine, specs=specs)
    deadline = start + max(300.0, phase.jobs / 20)
    while store.count_states(sc.engine)["completed"] < phase.jobs:
        workers.check()
        if time.perf_counter() > deadline:
            raise procs.WorkerError(f"rss phase {phase.name} timed out")
        time.sleep(0.1)
    return time.perf_counter() - start


def _clear(sc: scratch.Scratch) -> None:
    """Delete the finished jobs, keeping the running worker's registration."""
    with sc.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE jobs, metrics, job_output"))


def measure(sc: scratch.Scratch, log_dir: Path, phases: list[Phase]) -> list[dict]:
    """One row per point: registered, then after each phase."""
    scratch.reset(sc.engine)
    rows = []
    with procs.Workers(sc, log_dir=log_dir, label="rss") as workers:
        workers.run(concurrency=CONCURRENCY)
        workers.wait_registered()
        pid = workers.procs[0].pid
        rss, hwm = _memory(pid)
        rows.append({"point": "registered", "jobs": 0, "seconds": 0.0, "rss_mb": rss,
                     "hwm_mb": hwm})
        done = 0
        for i, phase in enumerate(phases):
            seconds = _drain(sc, workers, phase, f"rss{i}")
            _clear(sc)  # keeps completed rows (and their output) off the disk
            done += phase.jobs
            rss, hwm = _memory(pid)
            rows.append({"point": f"after {phase.name}", "jobs": done, "seconds": seconds,
                         "rss_mb": rss, "hwm_mb": hwm})
    for row in rows:
        row["growth_mb"] = row["rss_mb"] - rows[0]["rss_mb"]
    return rows


MAX_GROWTH_MB = 10.0


def table(rows: list[dict]) -> None:
    """VmRSS (and peak) of one worker at each point."""
    report.print_section(
        f"rss: one `worker run --concurrency {CONCURRENCY}` over the phases",
        [[r["point"], f"{r['jobs']:,}", f"{r['seconds']:.1f}", f"{r['rss_mb']:.1f}",
          f"{r['growth_mb']:+.1f}", f"{r['hwm_mb']:.1f}"] for r in rows],
        ["point", "jobs so far", "phase s", "VmRSS MB", "growth MB", "VmHWM MB"])


def targets(rows: list[dict]) -> list[dict]:
    """RSS growth from registration to the end < 10 MB."""
    growth = rows[-1]["growth_mb"]
    return [report.line(growth < MAX_GROWTH_MB, "worker RSS growth < 10 MB",
                        f"{growth:+.1f} MB", f"{MAX_GROWTH_MB - growth:+.1f} MB")]
