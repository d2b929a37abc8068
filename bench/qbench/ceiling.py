"""The raw ceiling: how fast plain Python can run `sh -c true` at a given concurrency, with
no queue at all.

The reference is a pool of C *threads* each doing `subprocess.run(['sh', '-c', 'true'])`,
because that is what one worker process does: `worker run --concurrency C` runs C runner
threads that each spawn a shell. Two more rows help read the end-to-end numbers:

- C *processes* each spawning their share (what `worker start --count C` looks like);
- C threads calling `queuectl.worker.runner.Runner().run('true')`: the worker's own spawn path
  (process group, pidfd wait, output capture to a temporary file), still without a database.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from queuectl.worker import runner

__all__ = ["measure", "threads_rate"]

_ARGV = ["sh", "-c", "true"]
# The Runner row is diagnostic; cap its spawns so a slow runner does not stretch the run.
_RUNNER_MAX = 500


def _spawn_plain() -> None:
    subprocess.run(_ARGV, check=True)


def _threads(n: int, concurrency: int, fn: Callable[[], object]) -> float:
    """Jobs/s for `n` calls of `fn` on `concurrency` threads (pool started before timing)."""
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: None, range(concurrency * 4)))
        start = time.perf_counter()
        list(pool.map(lambda _: fn(), range(n)))
        return n / (time.perf_counter() - start)


def threads_rate(n: int, concurrency: int) -> float:
    """The reference ceiling alone: spawns/s of `sh -c true` on `concurrency` threads."""
    return _threads(n, concurrency, _spawn_plain)


def _child(count: int, ready: multiprocessing.synchronize.Barrier,
           out: multiprocessing.Queue) -> None:
    ready.wait()
    start = time.monotonic()
    for _ in range(count):
        _spawn_plain()
    out.put((start, time.monotonic()))


def _processes(n: int, concurrency: int) -> float:
    """Jobs/s for `n` spawns split over `concurrency` processes that start their loops together
    once all have imported; the span is from the first start to the last finish
    (CLOCK_MONOTONIC is system-wide)."""
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Barrier(concurrency), ctx.Queue()
    shares = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
    procs = [ctx.Process(target=_child, args=(k, ready, out)) for k in shares]
    for p in procs:
        p.start()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return n / (max(e for _, e in spans) - min(s for s, _ in spans))


def measure(n: int, levels: list[int]) -> list[dict]:
    """One row per concurrency: threads (the reference), processes and the queuectl runner."""
    run_true = runner.Runner()
    rows = []
    for c in levels:
        rows.append({
            "concurrency": c,
            "spawns": n,
            "threads_per_s": _threads(n, c, _spawn_plain),
            "processes_per_s": _processes(n, c),
            "runner_spawns": min(n, _RUNNER_MAX),
            "runner_threads_per_s": _threads(min(n, _RUNNER_MAX), c,
                                             lambda: run_true.run("true")),
        })
    return rows
