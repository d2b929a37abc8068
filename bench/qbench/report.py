"""Statistics, machine facts, the printed tables and the PASS/MISS lines for the targets."""

from __future__ import annotations

import hashlib
import math
import os
import platform
import subprocess
from pathlib import Path

import sqlalchemy as sa
from tabulate import tabulate

__all__ = ["load", "machine", "percentile", "print_section", "summary", "targets"]

# The targets of issue 6 on the reference machine.
E2E_MIN_RATIO = 0.80
LATENCY_P50_MS = 10.0
LATENCY_P95_MS = 50.0
BULK_MIN_PER_S = 20_000.0
CLAIM_MAX_RATIO = 2.0
# Issue 13: CLI start-up against its floors, and the first job after `worker start`.
CLI_MAX_RATIO = 2.0
FIRST_JOB_MS = 1000.0


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile with linear interpolation between closest ranks."""
    data = sorted(values)
    if not data:
        return math.nan
    k = (len(data) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def summary(values: list[float]) -> dict:
    """p50, p95, max and mean of a list of milliseconds."""
    return {"n": len(values), "p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
            "max_ms": max(values, default=math.nan),
            "mean_ms": sum(values) / len(values) if values else math.nan}


def load() -> dict:
    """The load average now, and `uptime`'s line."""
    try:
        line = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        line = ""
    return {"loadavg": list(os.getloadavg()), "uptime": line}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "queuectl"],
                               capture_output=True, text=True).stdout.strip()
        diff = subprocess.run(["git", "-C", str(root), "diff", "HEAD", "--", "queuectl"],
                              capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not dirty:
        return head
    digest = hashlib.sha1(diff).hexdigest()[:10]
    return f"{head} + uncommitted queuectl/ changes (diff sha1 {digest})"


def machine(engine: sa.Engine) -> dict:
    """CPU, cores, memory, PostgreSQL, Python and the git commit benchmarked."""
    with engine.connect() as conn:
        pg = conn.execute(sa.text("SELECT version()")).scalar_one()
    mem_kb = next((int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal")), 0)
    return {
        "cpu_model": _cpu_model(), "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)), "mem_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(), "postgresql": pg,
        "python": platform.python_version(), "git_commit": _git_commit(),
    }


def print_section(title: str, rows: list[list], headers: list[str], note: str = "") -> None:
    """A titled table on stdout."""
    print(f"\n== {title} ==")
    print(tabulate(rows, headers=headers, floatfmt=".1f", disable_numparse=True))
    if note:
        print(note)


def _line(ok: bool, what: str, value: str, margin: str) -> dict:
    return {"result": "PASS" if ok else "MISS", "target": what, "value": value,
            "margin": margin}


def line(ok: bool, what: str, value: str, margin: str) -> dict:
    """One PASS/MISS target line (for section modules that judge their own targets)."""
    return _line(ok, what, value, margin)


def _e2e_targets(e2e: list[dict]) -> list[dict]:
    out = []
    for row in e2e:
        ratio = row["ratio_adjacent"]
        out.append(_line(ratio >= E2E_MIN_RATIO,
                         f"end-to-end >= 80% of ceiling ({row['layout']}, c={row['concurrency']})",
                         f"{ratio:.0%}", f"{(ratio - E2E_MIN_RATIO) * 100:+.0f} pts"))
    return out


def _latency_targets(latency: list[dict]) -> list[dict]:
    out = []
    for row in (r for r in latency if r["listen"]):
        for key, limit in (("p50_ms", LATENCY_P50_MS), ("p95_ms", LATENCY_P95_MS)):
            value = row[key]
            out.append(_line(value < limit, f"idle enqueue->start {key[:3]} < {limit:g} ms "
                             f"({row['setup']})", f"{value:.1f} ms",
                             f"{limit - value:+.1f} ms"))
    return out


def _bulk_targets(bulk: list[dict]) -> list[dict]:
    lib = bulk[0]["jobs_per_s"]
    return [_line(lib > BULK_MIN_PER_S, "bulk enqueue > 20,000 jobs/s (library)",
                  f"{lib:,.0f} jobs/s", f"{(lib / BULK_MIN_PER_S - 1):+.0%}")]


def claim_ratio(claim: list[dict], key: str, pct: str = "p50_ms") -> float | None:
    """p(1M pending) / p(10k pending) for `key` ('limit1' or 'limit8'), if both ran."""
    by = {(r["pending"], r["completed"]): r for r in claim}
    small, big = by.get((10_000, 0)), by.get((1_000_000, 0))
    if small is None or big is None:
        return None
    return big[key][pct] / small[key][pct]


def _claim_targets(claim: list[dict]) -> list[dict]:
    out = []
    for key in ("limit1", "limit8"):
        ratio = claim_ratio(claim, key)
        if ratio is not None:
            what = f"claim p50 at 1M pending <= 2x 10k ({key.replace('limit', 'limit=')})"
            out.append(_line(ratio <= CLAIM_MAX_RATIO, what, f"{ratio:.2f}x",
                             f"{CLAIM_MAX_RATIO - ratio:+.2f}x"))
    return out


def _cli_targets(rows: list[dict]) -> list[dict]:
    ms = {r["command"]: r["median_ms"] for r in rows}
    floor = ms["floor: psycopg connect + select 1"]
    out = []
    for command in ("queuectl enqueue JSON", "queuectl status"):
        ratio = ms[command] / floor
        out.append(_line(ratio <= CLI_MAX_RATIO, f"{command} median <= 2x floor (connect)",
                         f"{ratio:.2f}x ({ms[command]:.0f} ms)", f"{CLI_MAX_RATIO - ratio:+.2f}x"))
    # "2x `python -c pass` plus typer's own import": 2*pass + (import typer - pass).
    limit = ms["python -c pass"] + ms["python -c 'import typer'"]
    value = ms["queuectl --help"]
    out.append(_line(value <= limit, "queuectl --help <= 2x python -c pass + typer import",
                     f"{value:.0f} ms (limit {limit:.0f} ms)", f"{limit - value:+.0f} ms"))
    first = ms["worker start -> first job started"]
    out.append(_line(first <= FIRST_JOB_MS, "worker start takes its first job within 1 s",
                     f"{first:.0f} ms", f"{FIRST_JOB_MS - first:+.0f} ms"))
    return out


def targets(results: dict) -> list[dict]:
    """PASS/MISS per target, for the sections that ran."""
    sections = results["sections"]
    out: list[dict] = []
    if "e2e" in sections:
        out += _e2e_targets(sections["e2e"]["rows"])
    if "latency" in sections:
        out += _latency_targets(sections["latency"]["rows"])
    if "bulk" in sections:
        out += _bulk_targets(sections["bulk"]["rows"])
    if "claim" in sections:
        out += _claim_targets(sections["claim"]["rows"])
    if "cli" in sections:
        out += _cli_targets(sections["cli"]["rows"])
    out += _section_targets(sections)
    return out


def _section_targets(sections: dict) -> list[dict]:
    """Targets of the sections that judge their own (issue 15: peers, idle-claim, rss)."""
    from qbench import idleclaim, peers, rss

    out: list[dict] = []
    for name, module in (("peers", peers), ("idle-claim", idleclaim), ("rss", rss)):
        if name in sections:
            out += module.targets(sections[name]["rows"])
    return out
