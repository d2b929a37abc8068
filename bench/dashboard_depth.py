#!/usr/bin/env python
"""The dashboard's queue depth with a big schedule (issue 28): what the overview's
`job_count_waiting` and /metrics' `queue_count_due` cost when many jobs wait in the future,
in a scratch database on the given server.

    .venv/bin/python bench/dashboard_depth.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
        [--json-out PATH] [--quick]

Levels: 10k, 200k and 1M pending jobs due tomorrow (quick: 10k and 200k), spread over three
queues, beside 100 due jobs in two of them; each level is loaded in SQL, then `VACUUM ANALYZE`.
For each statement, the store's own (a skip scan over the queues) and the plain scan it
replaced (every claimable job with `run_at <= now()`, kept here for comparison): the
EXPLAIN (ANALYZE, BUFFERS) execution and planning times and shared buffers touched, and the
median of 20 timed runs (round trip and planning included). The store's figures should be
flat across levels.

Prints one line per level and statement and writes the figures, the machine and the load to
JSON (default bench/results/dashboard-depth-<timestamp>.json).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from qbench import report, scratch

from queuectl.store.statements import dashboard as dashboard_sql

_RESULTS = Path(__file__).resolve().parent / "results"
_RUNS = 20
_DUE = 100

# What the two statements were before the skip scan: the comparison.
_PLAIN = {
    "job_count_waiting": """
        SELECT count(*) AS depth, extract(epoch FROM now() - min(run_at)) AS oldest
        FROM jobs WHERE state IN ('pending', 'failed') AND run_at <= now()""",
    "queue_count_due": """
        SELECT queue, count(*) AS n FROM jobs
        WHERE state IN ('pending', 'failed') AND run_at <= now() GROUP BY queue""",
}
_STORE = {"job_count_waiting": dashboard_sql.job_count_waiting.sql,
          "queue_count_due": dashboard_sql.queue_count_due.sql}

_LOAD = sa.text(
    """
    INSERT INTO jobs (id, command, state, max_retries, queue, run_at, created_at, updated_at)
    SELECT :prefix || lpad(g::text, 9, '0'), 'true', 'pending', 3,
           (ARRAY['default', 'mail', 'reports'])[1 + g % :queues],
           now() + :offset_s * interval '1 second' + g * interval '1 millisecond', now(), now()
    FROM generate_series(1, :n) AS g
    """
)


def _load(engine: sa.Engine, future: int) -> None:
    with engine.begin() as conn:
        conn.execute(_LOAD, {"prefix": "f", "queues": 3, "offset_s": 86_400.0, "n": future})
        conn.execute(_LOAD, {"prefix": "d", "queues": 2, "offset_s": -3_600.0, "n": _DUE})


def _explain(conn: Any, text: str) -> tuple[float, float, int]:
    """Planning and execution time (ms) and shared buffers (hit + read) of one
    EXPLAIN (ANALYZE, BUFFERS)."""
    conn.execute("EXPLAIN " + text)  # the session's first planning loads the catalogue
    lines = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + text).fetchall()]
    ms = next(float(ln.split()[2]) for ln in lines if ln.startswith("Execution Time"))
    plan_ms = next(float(ln.split()[2]) for ln in lines if ln.startswith("Planning Time"))
    # The top node's Buffers line sums its children (the planning one comes after it).
    top = next((ln for ln in lines if ln.strip().startswith("Buffers:")), "")
    blocks = sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", top))
    return plan_ms, ms, blocks


def _timed(conn: Any, text: str) -> tuple[float, Any]:
    times = []
    rows = None
    for _ in range(_RUNS):
        start = time.perf_counter()
        rows = conn.execute(text).fetchall()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), rows


def _level(sc: scratch.Scratch, future: int) -> list[dict]:
    scratch.reset(sc.engine)
    started = time.monotonic()
    _load(sc.engine, future)
    scratch.vacuum_analyze(sc.engine)
    load_s = time.monotonic() - started
    rows = []
    with sc.engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        for name in _STORE:
            answers = []
            for variant, text in (("store", _STORE[name]), ("plain scan", _PLAIN[name])):
                plan_ms, ms, blocks = _explain(driver, text)
                median, answer = _timed(driver, text)
                answers.append(sorted(tuple(r) for r in answer or [])
                               if name == "queue_count_due" else [answer[0][0]])
                row = {"statement": name, "variant": variant, "future": future, "due": _DUE,
                       "load_s": round(load_s, 1), "explain_ms": ms, "planning_ms": plan_ms,
                       "buffers": blocks,
                       "median_ms": round(median, 3), "load": report.load()["loadavg"]}
                rows.append(row)
                print(f"{future:>9,} future  {name:18} {variant:10}: EXPLAIN {ms:8.3f} ms "
                      f"(planning {plan_ms:.3f}) {blocks:>5} buffers, median of {_RUNS} "
                      f"{median:7.3f} ms  "
                      f"load {row['load'][0]:.1f}", flush=True)
            if answers[0] != answers[1]:
                raise RuntimeError(f"{name}: the store says {answers[0]}, "
                                   f"the plain scan {answers[1]}")
        conn.rollback()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--quick", action="store_true", help="10k and 200k future jobs only")
    args = parser.parse_args()
    levels = (10_000, 200_000) if args.quick else (10_000, 200_000, 1_000_000)
    with scratch.scratch_database(args.database_url) as sc:
        print(f"machine load at start: {report.load()['uptime']}", flush=True)
        rows = [row for future in levels for row in _level(sc, future)]
        scratch.reset(sc.engine)
        out = {"when": datetime.now(UTC).isoformat(), "machine": report.machine(sc.engine),
               "load_end": report.load(), "rows": rows}
    path = args.json_out or _RESULTS / f"dashboard-depth-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
