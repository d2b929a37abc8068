"""Idle claims with a large backlog that is not due (issue 15): claim latency and server CPU
per poll with

- 1M jobs scheduled in the future and none due (the idle poll of a fleet with a big schedule);
- 1M failed jobs waiting out their retry backoff, none due;
- 10 due jobs beside 1M future ones, of the same priority and of a higher one (the index
  orders by priority first, so a higher-priority future backlog sits in front of the due
  jobs);
- the reference: 10k due jobs.

Each level is loaded in SQL (`INSERT … SELECT generate_series`), then `VACUUM ANALYZE` and
`CHECKPOINT`. The store's real claim (`store.claim_jobs(limit=4)`, four slots) is called through
an engine built like the worker's (pooled, one connection), each call its own autocommit
statement. Claimed jobs are put back to pending after each (untimed) call, so every poll sees
the same table.

Server CPU per poll: the backend's utime+stime from `/proc/<backend pid>/stat` (the server is
local) over the whole series, divided by the number of polls; `None` when the backend's /proc
entry cannot be read (a remote server). The EXPLAIN (ANALYZE) execution time of one claim
(rolled back) is recorded too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import sqlalchemy as sa

from qbench import report, scratch
from queuectl import db, store
from queuectl.store.statements import runs as runs_sql

__all__ = ["LEVELS", "Level", "cpu_ms", "measure", "ratio"]

_LIMIT = 4
_WARMUP = 5


@dataclass(frozen=True)
class Level:
    """`due` claimable jobs (priority 0), plus `future` pending jobs due tomorrow (priority
    `future_priority`) and `backoff` failed ones waiting for their retry."""

    name: str
    due: int
    future: int = 0
    backoff: int = 0
    future_priority: int = 0


LEVELS = (
    Level("1M future, none due", 0, future=1_000_000),
    Level("1M failed in backoff, none due", 0, backoff=1_000_000),
    Level("10 due beside 1M future", 10, future=1_000_000),
    Level("10 due beside 1M future of higher priority", 10, future=1_000_000,
          future_priority=5),
    Level("10k due (reference)", 10_000),
)
QUICK_LEVELS = (
    Level("100k future, none due", 0, future=100_000),
    Level("10 due beside 100k future", 10, future=100_000),
    Level("10 due beside 100k future of higher priority", 10, future=100_000,
          future_priority=5),
    Level("10k due (reference)", 10_000),
)

_LOAD = sa.text(
    """
    INSERT INTO jobs (id, command, state, attempts, max_retries, priority, run_at,
                      created_at, updated_at, error)
    SELECT :prefix || lpad(g::text, 9, '0'), 'true', :state, :attempts, 3, :priority,
           now() + :offset_s * interval '1 second' + g * interval '1 millisecond',
           now(), now(), :error
    FROM generate_series(1, :n) AS g
    """
)
_PUT_BACK = sa.text(
    "UPDATE jobs SET state = 'pending', attempts = 0, run_id = NULL, worker_id = NULL, "
    "started_at = NULL, lease_expires_at = NULL WHERE id = ANY(:ids)"
)


def _load(engine: sa.Engine, level: Level) -> None:
    batches = [("f", "pending", 0, level.future_priority, 86_400.0, None, level.future),
               ("b", "failed", 1, 0, 3_600.0, "exited with code 1", level.backoff),
               ("d", "pending", 0, 0, -86_400.0, None, level.due)]
    with engine.begin() as conn:
        for prefix, state, attempts, priority, offset, error, n in batches:
            if n:
                conn.execute(_LOAD, {"prefix": prefix, "state": state, "attempts": attempts,
                                     "priority": priority, "offset_s": offset,
                                     "error": error, "n": n})


def cpu_ms(stat_line: str) -> float:
    """utime + stime in milliseconds from one `/proc/<pid>/stat` line."""
    fields = stat_line.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after "(comm)"
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


def _backend_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return cpu_ms(f.read())
    except OSError:
        return None


def _series(engine: sa.Engine, other: sa.Engine, level: Level,
            count: int) -> tuple[list[float], float | None]:
    """Claim times; CPU per claim of the claiming backend (put-backs go through `other`)."""
    with engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        conn.rollback()
    times: list[float] = []
    cpu_before = None
    for i in range(_WARMUP + count):
        if i == _WARMUP:
            cpu_before = _backend_cpu(pid)
        start = time.perf_counter()
        got = store.claim_jobs(engine, worker_id=1, limit=_LIMIT, lease_seconds=30)
        elapsed = (time.perf_counter() - start) * 1000
        if len(got) != min(_LIMIT, level.due):
            raise RuntimeError(f"{level.name}: claim returned {len(got)} jobs")
        if i >= _WARMUP:
            times.append(elapsed)
        if got:
            with other.begin() as conn:
                conn.execute(_PUT_BACK, {"ids": [j.id for j in got]})
    cpu_after = _backend_cpu(pid)
    cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before)
    return times, (None if cpu is None else cpu / count)


def _explain_ms(engine: sa.Engine) -> float | None:
    claim_sql = runs_sql.job_claim_available.sql  # the store's own statement, read-only use
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        rows = [r[0] for r in driver.execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + claim_sql,
            {"worker_id": 1, "limit": _LIMIT, "lease": 30, "start_now": _LIMIT,
             "queues": None}).fetchall()]
        conn.rollback()
    found = [ln for ln in rows if ln.startswith("Execution Time")]
    return float(found[0].split()[2]) if found else None


def _one(sc: scratch.Scratch, level: Level, count: int) -> dict:
    scratch.reset(sc.engine)
    start = time.perf_counter()
    _load(sc.engine, level)
    scratch.vacuum_analyze(sc.engine)
    load_s = time.perf_counter() - start
    engine = db.create_engine(sc.target, pooled=True, pool_size=1)
    try:
        explain = _explain_ms(engine)
        times, cpu = _series(engine, sc.engine, level, count)
    finally:
        engine.dispose()
    return {"level": level.name, "due": level.due, "future": level.future,
            "backoff": level.backoff, "future_priority": level.future_priority,
            "claims": count, "limit": _LIMIT, "load_s": load_s,
            **report.summary(times), "server_cpu_ms_per_poll": cpu, "explain_ms": explain}


def ratio(rows: list[dict]) -> float | None:
    """claim p50 of "10 due beside 1M (or 100k) future" (the worst of its variants) / claim
    p50 at 10k due."""
    beside = [r["p50_ms"] for r in rows if r["due"] == 10 and r["future"]]
    ref = [r for r in rows if r["due"] == 10_000 and not r["future"]]
    if not beside or not ref:
        return None
    return float(max(beside) / ref[0]["p50_ms"])


def measure(sc: scratch.Scratch, levels: tuple[Level, ...], count: int) -> list[dict]:
    """One row per level; the table is emptied afterwards (disk space)."""
    try:
        return [_one(sc, level, count) for level in levels]
    finally:
        scratch.reset(sc.engine)


MAX_RATIO = 2.0


def table(rows: list[dict]) -> None:
    """Claim latency and server CPU per poll per level."""
    def f(v: float | None, d: int = 2) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    report.print_section(
        f"idle-claim: store.claim_jobs(limit={_LIMIT}) with a backlog that is not due",
        [[r["level"], r["claims"], f(r["load_s"], 1), f(r["p50_ms"]), f(r["p95_ms"]),
          f(r["server_cpu_ms_per_poll"]), f(r["explain_ms"], 3)] for r in rows],
        ["level", "claims", "load s", "p50 ms", "p95 ms", "server CPU ms/poll",
         "EXPLAIN ms"],
        "server CPU = the claiming backend's utime+stime (/proc) over the series / claims.")
    r = ratio(rows)
    if r is not None:
        print(f"ratio claim p50 (10 due beside the future backlog) / (10k due): {r:.2f}")


def targets(rows: list[dict]) -> list[dict]:
    """10 due beside 1M future: claim p50 <= 2x the p50 at 10k due."""
    r = ratio(rows)
    if r is None:
        return []
    return [report.line(r <= MAX_RATIO, "claim p50, 10 due beside 1M future <= 2x 10k due",
                        f"{r:.2f}x", f"{MAX_RATIO - r:+.2f}x")]
