#!/usr/bin/env python
"""Dependency graphs (issue 25): how long the database takes to cancel, or release, the
dependents of one job, for graphs the CLI accepts, in a scratch database on the given server.

    .venv/bin/python bench/deps.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
        [--json-out PATH] [--quick]

Graphs (each enqueued with `store.enqueue_jobs`, then statistics left as they are, as after a
real enqueue):
- `chain`: 10,000 jobs, each after the one before; the head is cancelled (`store.cancel_jobs`,
  what `queuectl cancel` calls), which cancels all 9,999 others;
- `fan-out`: one head and 100,000 jobs after it (100,000 edges); cancelled, and (a second
  copy) completed, which releases all 100,000 at once;
- `layers`: 11 layers of 5,000 jobs, each job after two of the layer before (100,000 edges);
  the first layer's 5,000 jobs are cancelled in one UPDATE (5,000 cascades, one per head);
- `fan-in`: one job after 100,000 heads (100,000 edges); one head is cancelled.

Prints one line per graph and writes the figures, the machine and the load to JSON (default
bench/results/deps-<timestamp>.json).
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from qbench import report, scratch

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState

_RESULTS = Path(__file__).resolve().parent / "results"


def _chain(n: int) -> tuple[list[JobSpec], list[str]]:
    return [JobSpec("c0", "true")] + [
        JobSpec(f"c{i}", "true", after=[f"c{i - 1}"]) for i in range(1, n)], ["c0"]


def _fan_out(n: int, prefix: str = "f") -> tuple[list[JobSpec], list[str]]:
    return [JobSpec(f"{prefix}head", "true")] + [
        JobSpec(f"{prefix}{i}", "true", after=[f"{prefix}head"]) for i in range(n)], \
        [f"{prefix}head"]


def _layers(layers: int, width: int) -> tuple[list[JobSpec], list[str]]:
    specs = [JobSpec(f"l0-{i}", "true") for i in range(width)]
    for layer in range(1, layers):
        specs += [JobSpec(f"l{layer}-{i}", "true",
                          after=[f"l{layer - 1}-{i}", f"l{layer - 1}-{(i + 1) % width}"])
                  for i in range(width)]
    return specs, [f"l0-{i}" for i in range(width)]


def _fan_in(n: int) -> tuple[list[JobSpec], list[str]]:
    heads = [JobSpec(f"i{i}", "true") for i in range(n)]
    return heads + [JobSpec("iall", "true", after=[s.id for s in heads])], ["i0"]


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT state, count(*) FROM jobs GROUP BY 1")).all())


def _edges(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM job_deps")).scalar_one())


def _cancel(engine: sa.Engine, heads: list[str]) -> None:
    store.cancel_jobs(engine, ids=heads, signal=signal.SIGTERM)


def _cancel_at_once(engine: sa.Engine, heads: list[str]) -> None:
    """All `heads` in one UPDATE: `store.cancel_jobs` writes one statement per id, whose round
    trips would be most of what is measured for 5,000 heads."""
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = 'cancelled', finished_at = now() "
                             "WHERE id = ANY(:ids)"), {"ids": heads})


def _complete(engine: sa.Engine, heads: list[str]) -> None:
    claimed = store.claim_jobs(engine, worker_id=1, limit=len(heads), lease_seconds=60)
    assert sorted(c.id for c in claimed) == sorted(heads)
    store.finish_runs(engine, results=[
        store.RunResult(c.id, c.run_id, JobState.COMPLETED, 0, None, "", False, 0.01)
        for c in claimed], worker_id=None)


def _measure(sc: scratch.Scratch, name: str, graph: tuple[list[JobSpec], list[str]],
             action: str, act: Callable[[sa.Engine, list[str]], None]) -> dict:
    specs, heads = graph
    scratch.reset(sc.engine)
    started = time.monotonic()
    store.enqueue_jobs(sc.engine, specs=specs)
    enqueued = time.monotonic() - started
    before = report.load()
    started = time.monotonic()
    act(sc.engine, heads)
    took = time.monotonic() - started
    row = {"graph": name, "action": action, "jobs": len(specs), "edges": _edges(sc.engine),
           "enqueue_s": round(enqueued, 3), "seconds": round(took, 3),
           "states": _counts(sc.engine), "load_before": before["loadavg"],
           "load_after": report.load()["loadavg"]}
    print(f"{name:8} {action:9} {row['jobs']:>7} jobs {row['edges']:>7} edges: "
          f"{took:7.2f} s (enqueue {enqueued:.1f} s)  states {row['states']}  "
          f"load {before['loadavg'][0]:.1f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--quick", action="store_true", help="a tenth of every graph")
    parser.add_argument("--only", default="", help="comma-separated graph names")
    args = parser.parse_args()
    k = 10 if args.quick else 1
    with scratch.scratch_database(args.database_url) as sc:
        print(f"machine load at start: {report.load()['uptime']}", flush=True)
        graphs = [
            ("chain", lambda: _chain(10_000 // k), "cancel", _cancel),
            ("fan-out", lambda: _fan_out(100_000 // k), "cancel", _cancel),
            ("fan-out", lambda: _fan_out(100_000 // k), "complete", _complete),
            ("layers", lambda: _layers(11, 5_000 // k), "cancel", _cancel_at_once),
            ("fan-in", lambda: _fan_in(100_000 // k), "cancel", _cancel),
        ]
        only = set(filter(None, args.only.split(",")))
        rows = [_measure(sc, name, make(), action, act) for name, make, action, act in graphs
                if not only or name in only]
        out = {"when": datetime.now(UTC).isoformat(), "machine": report.machine(sc.engine),
               "load_end": report.load(), "graphs": rows}
    path = args.json_out or _RESULTS / f"deps-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
