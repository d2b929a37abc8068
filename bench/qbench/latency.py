"""Enqueue→start latency seen by idle workers: jobs enqueued one at a time with random gaps,
latency = started_at − created_at from the jobs table (one clock: the database's).

`created_at` is the start of the enqueue transaction and `started_at` the start of the claim
statement, so the figure covers the enqueue's own statements and commit, the NOTIFY (or the
poll), the worker waking up and its claim — not the shell, which starts after the claim.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from qbench import procs, report, scratch
from queuectl import store
from queuectl.core import jobspec

__all__ = ["SETUPS", "Setup", "measure"]


@dataclass(frozen=True)
class Setup:
    """How many `worker run --concurrency 1` processes, and whether they LISTEN."""

    name: str
    workers: int
    listen: bool


SETUPS = (
    Setup("1 worker, LISTEN", 1, True),
    Setup("2 workers, LISTEN", 2, True),
    Setup("1 worker, poll only (--no-listen)", 1, False),
)

_LATENCIES = sa.text(
    """
    SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms
    FROM jobs WHERE id LIKE 'lat-%' ORDER BY id
    """
)


def _wait_completed(sc: scratch.Scratch, workers: procs.Workers, n: int) -> None:
    deadline = time.monotonic() + 60 + n * 0.5
    while store.count_states(sc.engine)["completed"] < n:
        workers.check()
        if time.monotonic() > deadline:
            raise procs.WorkerError("latency jobs did not complete in time")
        time.sleep(0.02)


def _trickle(sc: scratch.Scratch, m: int, gap_ms: tuple[float, float]) -> list[float]:
    """Enqueue `m` jobs one by one; returns the client-side time of each enqueue call (ms)."""
    calls = []
    for i in range(m):
        time.sleep(random.uniform(*gap_ms) / 1000)
        t = time.perf_counter()
        store.enqueue_jobs(sc.engine, specs=[jobspec.JobSpec(id=f"lat-{i:05d}", command="true")])
        calls.append((time.perf_counter() - t) * 1000)
    return calls


def _one(sc: scratch.Scratch, log_dir: Path, setup: Setup, m: int,
         gap_ms: tuple[float, float]) -> dict:
    scratch.reset(sc.engine)
    label = f"latency-{setup.workers}w-{'listen' if setup.listen else 'poll'}"
    with procs.Workers(sc, log_dir=log_dir, label=label) as workers:
        for _ in range(setup.workers):
            workers.run(concurrency=1, listen=setup.listen)
        workers.wait_registered()
        if setup.listen:
            workers.wait_listening()
        # One warm-up job (not counted) so first-call costs do not land in the figures.
        store.enqueue_jobs(sc.engine, specs=[jobspec.JobSpec(id="warmup", command="true")])
        _wait_completed(sc, workers, 1)
        calls = _trickle(sc, m, gap_ms)
        _wait_completed(sc, workers, m + 1)
    with sc.engine.connect() as conn:
        ms = [float(x) for x in conn.execute(_LATENCIES).scalars()]
    return {"setup": setup.name, "workers": setup.workers, "listen": setup.listen, "jobs": m,
            "gap_ms": list(gap_ms), **report.summary(ms),
            "enqueue_call_p50_ms": report.percentile(calls, 50)}


def measure(sc: scratch.Scratch, log_dir: Path, m: int,
            gap_ms: tuple[float, float] = (20.0, 50.0)) -> list[dict]:
    """One row per setup in `SETUPS`."""
    return [_one(sc, log_dir, s, m, gap_ms) for s in SETUPS]
