"""The human-readable tables, one per section (the JSON file holds the same numbers)."""

from __future__ import annotations

from qbench import report

__all__ = ["bulk", "ceiling", "claim", "cli", "e2e", "latency", "targets"]


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ceiling(rows: list[dict]) -> None:
    """Raw spawn rates per concurrency."""
    report.print_section(
        "1. raw ceiling: sh -c true spawned from plain Python (spawns/s)",
        [[r["concurrency"], r["spawns"], _f(r["threads_per_s"], 0), _f(r["processes_per_s"], 0),
          _f(r["runner_threads_per_s"], 0)] for r in rows],
        ["C", "spawns", "C threads (reference)", "C processes", "queuectl Runner, C threads"],
        "Runner column: at most 500 spawns per level (diagnostic).")


def e2e(rows: list[dict], ceiling_rows: list[dict]) -> None:
    """Throughput per layout and concurrency, with the ratios to the ceilings."""
    ref = {r["concurrency"]: r for r in ceiling_rows}
    table = []
    for r in rows:
        c = ref.get(r["concurrency"])
        table.append([
            r["layout"], r["concurrency"], r["jobs"], _f(r["jobs_per_s"], 0),
            _f(r["ceiling_adjacent_per_s"], 0), f"{r['ratio_adjacent']:.0%}",
            f"{r['jobs_per_s'] / c['threads_per_s']:.0%}" if c else "-",
            f"{r['jobs_per_s'] / c['processes_per_s']:.0%}" if c else "-",
            _f(r.get("steady_jobs_per_s"), 0), _f(r["wall_jobs_per_s"], 0),
            _f(r["avg_job_ms"], 2), r["worker_processes_used"]])
    report.print_section(
        "2. end-to-end: bulk-enqueued `true` jobs drained by workers",
        table, ["layout", "C", "jobs", "jobs/s (DB span)", "ceiling now", "vs ceiling now",
                "vs sect.1 threads", "vs sect.1 procs", "steady jobs/s", "jobs/s (wall)",
                "avg run ms",
                "procs"],
        "layout process = one `worker run --concurrency C`; processes = `worker start "
        "--count C --concurrency 1`.\n"
        "jobs/s (DB span) = jobs / (last finished_at - first started_at); steady = the same "
        "after the last worker registered; wall includes start-up.\n"
        "ceiling now = C threads spawning `sh -c true`, measured right before this run (the "
        "target's reference); avg run ms = the runner's own duration per job.")


def latency(rows: list[dict]) -> None:
    """Enqueue→start latency per setup."""
    report.print_section(
        "3. latency: idle workers, jobs enqueued one at a time (started_at - created_at)",
        [[r["setup"], r["jobs"], _f(r["p50_ms"], 2), _f(r["p95_ms"], 2), _f(r["max_ms"], 2),
          _f(r["mean_ms"], 2), _f(r["enqueue_call_p50_ms"], 2)] for r in rows],
        ["setup", "jobs", "p50 ms", "p95 ms", "max ms", "mean ms", "enqueue call p50 ms"])


def bulk(rows: list[dict]) -> None:
    """Bulk enqueue rates."""
    report.print_section(
        "4. bulk enqueue",
        [[r["path"], f"{r['jobs']:,}", r["repeats"], _f(r["jobs_per_s"], 0),
          _f(r.get("best_jobs_per_s"), 0), _f(r.get("seconds"), 3),
          _f(r.get("marginal_jobs_per_s"), 0)] for r in rows],
        ["path", "jobs", "runs", "jobs/s (median)", "best jobs/s", "seconds (CLI, median)",
         "CLI jobs/s without fixed cost"])


def claim(rows: list[dict]) -> None:
    """Claim latency per table size, plus the 1M/10k ratios."""
    table = [[r["level"], r["claims"], _f(r["load_s"], 1),
              _f(r["limit1"]["p50_ms"], 2), _f(r["limit1"]["p95_ms"], 2),
              _f(r["limit8"]["p50_ms"], 2), _f(r["limit8"]["p95_ms"], 2),
              _f(r["explain_ms_before"], 2), _f(r["explain_ms_after"], 2),
              _f(r["floor_select1"]["p50_ms"], 2), _f(r["floor_write"]["p50_ms"], 2)]
             for r in rows]
    notes = []
    for key in ("limit1", "limit8"):
        p50, p95 = report.claim_ratio(rows, key), report.claim_ratio(rows, key, "p95_ms")
        if p50 is not None and p95 is not None:
            notes.append(f"{key}: 1M/10k pending = {p50:.2f}x (p50), {p95:.2f}x (p95)")
    report.print_section(
        "5. claim latency (store.claim_jobs, one autocommit statement per claim)",
        table, ["table", "claims", "load s", "limit=1 p50 ms", "limit=1 p95 ms",
                "limit=8 p50 ms", "limit=8 p95 ms", "server ms before", "server ms after",
                "SELECT 1 p50", "1-row write p50"],
        "server ms = EXPLAIN ANALYZE execution time of one limit=8 claim, before and after "
        "the timed series.\nSELECT 1 / 1-row write = floors through the same engine: a "
        "round trip; a round trip plus a commit's WAL flush.\n" + "\n".join(notes))


def targets(lines: list[dict]) -> None:
    """PASS/MISS per target."""
    print("\n== targets ==")
    for t in lines:
        print(f"{t['result']:4}  {t['target']}: {t['value']} (margin {t['margin']})")


def cli(rows: list[dict]) -> None:
    """Whole-process wall times of CLI commands and their floors."""
    report.print_section(
        "6. CLI start-up: wall time of whole processes (ms), round-robin",
        [[r["command"], r["repeats"], _f(r["median_ms"], 0), _f(r["min_ms"], 0),
          _f(r["max_ms"], 0)] for r in rows],
        ["command", "runs", "median", "min", "max"],
        "floor: python -c \"import psycopg; psycopg.connect(URL).execute('select 1')\"")
