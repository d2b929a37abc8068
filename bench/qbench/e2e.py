"""End-to-end throughput: N `true` jobs enqueued in bulk, then drained by freshly started
workers, for each concurrency and two layouts:

- `process`: one `worker run --concurrency C` (C runner threads in one process);
- `processes`: `worker start --count C --concurrency 1` (C processes under a supervisor).

Throughput is N / (last finished_at − first started_at), both from the jobs table (database
clock), so worker start-up is excluded; the wall rate from launching the workers until
`count_states` shows every job completed is reported too. With several processes, the first
one may start claiming while the others are still starting: "steady" counts only the jobs
finished after the last worker registered (when more than 50 were), over that window.

The machine may be shared, so the reference ceiling (C threads spawning `sh -c true`, see
`ceiling`) is measured again right before each run with the same N and C: the ratio to that
adjacent ceiling is the one the target is judged on, since both saw the same background load.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from qbench import ceiling, procs, scratch
from queuectl import store
from queuectl.core import jobspec

__all__ = ["LAYOUTS", "measure"]

LAYOUTS = ("process", "processes")

_SPAN = sa.text(
    """
    SELECT count(*) FILTER (WHERE state = 'completed') AS completed,
           extract(epoch FROM max(finished_at) - min(started_at)) AS span,
           avg(duration) AS avg_duration
    FROM jobs
    """
)
_WORKERS_USED = sa.text("SELECT count(DISTINCT worker_id) FROM metrics")
_ALL_READY = sa.text("SELECT max(started_at) FROM workers")
_STEADY = sa.text(
    """
    SELECT count(*) AS n, extract(epoch FROM max(finished_at) - :ready) AS span
    FROM jobs WHERE finished_at > :ready
    """
)


def _enqueue(sc: scratch.Scratch, n: int, tag: str) -> None:
    specs = [jobspec.JobSpec(id=f"{tag}-{i:07d}", command="true") for i in range(n)]
    store.enqueue_jobs(sc.engine, specs=specs)


def _drain(sc: scratch.Scratch, workers: procs.Workers, n: int, timeout: float) -> float:
    """Seconds from now until every job is completed (polling count_states)."""
    start = time.perf_counter()
    deadline = start + timeout
    while True:
        counts = store.count_states(sc.engine)
        if counts["completed"] >= n:
            return time.perf_counter() - start
        if counts["failed"] or counts["dead"]:
            raise procs.WorkerError(f"jobs failed during the drain: {counts}")
        if time.perf_counter() > deadline:
            raise procs.WorkerError(f"drain timed out after {timeout:g}s: {counts}")
        workers.check()
        time.sleep(0.02)


def _one(sc: scratch.Scratch, log_dir: Path, n: int, c: int, layout: str) -> dict:
    adjacent = ceiling.threads_rate(n, c)
    scratch.reset(sc.engine)
    _enqueue(sc, n, f"e2e-{layout}-{c}")
    with procs.Workers(sc, log_dir=log_dir, label=f"e2e-{layout}-c{c}") as workers:
        launched = time.perf_counter()
        if layout == "process":
            workers.run(concurrency=c)
        else:
            workers.start(count=c)
        _drain(sc, workers, n, timeout=max(120.0, n / 20))
        wall = time.perf_counter() - launched
        with sc.engine.connect() as conn:
            ready = conn.execute(_ALL_READY).scalar_one()  # before they deregister
    with sc.engine.connect() as conn:
        row = conn.execute(_SPAN).one()
        used = conn.execute(_WORKERS_USED).scalar_one()
        steady = conn.execute(_STEADY, {"ready": ready}).one()
    return {
        "layout": layout, "concurrency": c, "jobs": n,
        "span_s": float(row.span), "jobs_per_s": n / float(row.span),
        "wall_s": wall, "wall_jobs_per_s": n / wall,
        "avg_job_ms": float(row.avg_duration) * 1000, "worker_processes_used": used,
        "ceiling_adjacent_per_s": adjacent, "ratio_adjacent": n / float(row.span) / adjacent,
        "steady_jobs": steady.n,
        "steady_jobs_per_s": steady.n / float(steady.span) if steady.n > 50 else None,
    }


def measure(sc: scratch.Scratch, log_dir: Path, n: int, levels: list[int]) -> list[dict]:
    """One row per (layout, concurrency)."""
    return [_one(sc, log_dir, n, c, layout) for layout in LAYOUTS for c in levels]
