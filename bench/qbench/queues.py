"""Claim latency with named queues (issue 11): 100k pending jobs spread over 10 queues, first
with no limits, then with 3 of them limited (2 of those full), and for workers that take only
the limited queues (`worker start --queue ...`).

Each call is `store.claim_jobs` through an engine built like the worker's, its own
transaction(s) exactly as the worker makes them: the ordinary claim statement and, when it
leaves slots free and a limited queue has room, `claim_limited` under that queue's row lock.
Claimed jobs stay `processing`.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from qbench import report, scratch
from queuectl import db, store
from queuectl.core import queuespec

__all__ = ["measure", "print_table"]

_QUEUES = 10
_WARMUP = 5

_LOAD = sa.text("""
    INSERT INTO jobs (id, command, state, max_retries, run_at, created_at, updated_at, queue)
    SELECT 'p' || lpad(g::text, 9, '0'), 'true', 'pending', 3,
           now() - (:n - g) * interval '1 millisecond', now(), now(), 'q' || (g % 10)
    FROM generate_series(1, :n) AS g""")
# Fill q0 and q1 to their limits (4 and 2 running).
_FILL = sa.text("""
    UPDATE jobs SET state = 'processing', started_at = now(), run_id = nextval('job_run_id_seq'),
                    lease_expires_at = now() + interval '1 hour'
    WHERE id IN ((SELECT id FROM jobs WHERE queue = 'q0' ORDER BY id LIMIT 4)
                 UNION ALL (SELECT id FROM jobs WHERE queue = 'q1' ORDER BY id LIMIT 2))""")


def _series(engine: sa.Engine, limit: int, count: int, queues: list[str] | None,
            expect: int | None) -> dict:
    times = []
    for i in range(_WARMUP + count):
        start = time.perf_counter()
        got = store.claim_jobs(engine, worker_id=1, limit=limit, lease_seconds=30,
                               queues=queues)
        ms = (time.perf_counter() - start) * 1000
        if expect is not None and len(got) != expect:
            raise RuntimeError(f"claim returned {len(got)} jobs, expected {expect}")
        if i >= _WARMUP:
            times.append(ms)
    return report.summary(times)


def _limit(engine: sa.Engine) -> None:
    store.set_queue_limits(engine, name="q0", concurrency=4)
    store.set_queue_limits(engine, name="q1", concurrency=2, rate=queuespec.parse_rate("1/h"))
    store.set_queue_limits(engine, name="q2", concurrency=1_000_000)


def measure(sc: scratch.Scratch, count: int, pending: int = 100_000) -> list[dict]:
    """One row per scenario: limit=1 and limit=8 claim latency."""
    scratch.reset(sc.engine)
    with sc.engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE queues"))
        conn.execute(_LOAD, {"n": pending})
        conn.execute(_FILL)
    scratch.vacuum_analyze(sc.engine)
    engine = db.create_engine(sc.target, pooled=True, pool_size=1)
    rows = []
    scenarios: list[tuple[str, list[str] | None, bool, int | None]] = [
        ("10 queues, no limits", None, False, None),
        ("10 queues, 3 limited (2 full)", None, True, None),
        ("worker --queue q0,q1,q2 (q2 has room)", ["q0", "q1", "q2"], True, None),
        ("worker --queue q0,q1 (both full)", ["q0", "q1"], True, 0),
    ]
    try:
        for name, queues, limited, expect in scenarios:
            if limited and not rows[-1]["limited"]:
                _limit(sc.engine)
            one = _series(engine, 1, count, queues, 1 if expect is None else expect)
            eight = _series(engine, 8, count, queues, 8 if expect is None else expect)
            rows.append({"scenario": name, "pending": pending, "queues": _QUEUES,
                         "limited": limited, "claims": count, "limit1": one, "limit8": eight})
    finally:
        engine.dispose()
    return rows


def print_table(rows: list[dict]) -> None:
    """Claim latency per scenario."""
    table = [[r["scenario"], r["claims"], f"{r['limit1']['p50_ms']:.2f}",
              f"{r['limit1']['p95_ms']:.2f}", f"{r['limit8']['p50_ms']:.2f}",
              f"{r['limit8']['p95_ms']:.2f}"] for r in rows]
    report.print_section(
        f"queues: claim latency at {rows[0]['pending'] if rows else 0:,} pending over "
        f"{_QUEUES} queues", table,
        ["scenario", "claims", "limit=1 p50 ms", "limit=1 p95 ms", "limit=8 p50 ms",
         "limit=8 p95 ms"],
        "limited: q0 concurrency 4 (full), q1 concurrency 2 + 1/h (full), q2 concurrency "
        "1,000,000.\nA worker of full queues only gets nothing back: its time is the cost "
        "of asking.")
