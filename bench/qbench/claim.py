"""Claim latency with many waiting jobs: load the table in SQL, VACUUM ANALYZE, then time
`store.claim_jobs` (limit 1, then limit 8), each call its own autocommit transaction exactly as
the worker makes it, through an engine configured like the worker's (pooled, pool_size=1).

Claimed jobs stay `processing`, so later claims in a series skip the index entries of the
earlier ones, as a real queue does between vacuums. One EXPLAIN ANALYZE of the claim
(rolled back) records where the server spends its time, and two floors measured the same
way put the claim in context: `SELECT 1` (a round trip) and an autocommit one-row UPDATE
(a round trip plus a WAL flush at commit, which every claim also pays), the latter
interleaved with the claims so both see the same background load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from qbench import report, scratch
from queuectl import db, store

__all__ = ["Level", "measure"]


@dataclass(frozen=True)
class Level:
    """How many pending and completed jobs sit in the table while claiming."""

    name: str
    pending: int
    completed: int = 0


_WARMUP = 5
_FLOOR_TABLE = "CREATE TABLE IF NOT EXISTS qbench_floor (id int PRIMARY KEY, n bigint)"
_FLOOR_WRITE = sa.text("UPDATE qbench_floor SET n = n + 1 WHERE id = 1")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _floor_write(engine: sa.Engine) -> None:
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(_FLOOR_WRITE)


def _series(engine: sa.Engine, limit: int, count: int) -> tuple[list[float], list[float]]:
    """Claim times, each followed by one floor write timed the same way (so both samples
    see the same background load)."""
    claims, floors = [], []

    def claim() -> None:
        got = store.claim_jobs(engine, worker_id=1, limit=limit, lease_seconds=30)
        if len(got) != limit:
            raise RuntimeError(f"claim returned {len(got)} jobs, expected {limit}")

    for i in range(_WARMUP + count):
        c, f = _timed(claim), _timed(lambda: _floor_write(engine))
        if i >= _WARMUP:
            claims.append(c)
            floors.append(f)
    return claims, floors


def _select1(engine: sa.Engine, count: int) -> list[float]:
    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            conn.rollback()

    return [_timed(ping) for _ in range(count)]


def _prepare_floor(engine: sa.Engine) -> None:
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(_FLOOR_TABLE))
        conn.execute(sa.text("INSERT INTO qbench_floor VALUES (1, 0) ON CONFLICT DO NOTHING"))


def _explain(engine: sa.Engine, limit: int) -> list[str]:
    from queuectl.store.statements import runs  # the store's own statement, read-only use

    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        rows = [r[0] for r in driver.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + runs.job_claim_available.sql,
            {"worker_id": 1, "limit": limit, "lease": 30, "start_now": limit,
             "queues": None}).fetchall()]
        conn.rollback()
    return list(rows)


def _exec_ms(plan: list[str]) -> float | None:
    found = [ln for ln in plan if ln.startswith("Execution Time")]
    return float(found[0].split()[2]) if found else None


def _one(sc: scratch.Scratch, level: Level, count: int) -> dict:
    scratch.reset(sc.engine)
    start = time.perf_counter()
    scratch.load_jobs(sc.engine, pending=level.pending, completed=level.completed)
    scratch.vacuum_analyze(sc.engine)
    load_s = time.perf_counter() - start
    engine = db.create_engine(sc.target, pooled=True, pool_size=1)
    try:
        _prepare_floor(engine)
        plan = _explain(engine, 8)
        one, floor1 = _series(engine, 1, count)
        eight, floor8 = _series(engine, 8, count)
        plan_after = _explain(engine, 8)
        select1 = _select1(engine, count)
    finally:
        engine.dispose()
    return {"level": level.name, "pending": level.pending, "completed": level.completed,
            "claims": count, "load_s": load_s,
            "limit1": report.summary(one), "limit8": report.summary(eight),
            "floor_write": report.summary(floor1 + floor8),
            "floor_select1": report.summary(select1),
            "explain_ms_before": _exec_ms(plan), "explain_ms_after": _exec_ms(plan_after),
            "explain_before": plan, "explain_after": plan_after}


def measure(sc: scratch.Scratch, levels: list[Level], count: int) -> list[dict]:
    """One row per level."""
    return [_one(sc, level, count) for level in levels]
