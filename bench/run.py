#!/usr/bin/env python
"""queuectl benchmark (issues 6 and 13): raw spawn ceiling, end-to-end throughput, idle
latency, bulk enqueue rate, claim latency and CLI start-up, against a scratch database on the
given server.

    .venv/bin/python bench/run.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
        [--jobs N] [--quick] [--only ceiling,e2e,latency,bulk,claim,cli] [--json-out PATH]

Prints one table per section and the PASS/MISS line per target; writes everything, with the
machine and the load, to JSON (default bench/results/<timestamp>.json). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from qbench import (
    ceiling,
    claim,
    clistart,
    e2e,
    enqueue,
    idleclaim,
    latency,
    peers,
    queues,
    report,
    rss,
    scratch,
    tables,
)

SECTIONS = ("ceiling", "e2e", "latency", "bulk", "claim", "cli", "queues", "peers", "idle-claim",
            "rss")
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    """Sizes for one run: `--quick` shrinks everything to stay under ~2 minutes."""

    jobs: int
    levels: list[int]
    latency_jobs: int
    bulk_jobs: int
    bulk_repeats: int
    cli_jobs: int
    claims: int
    cli_repeats: int
    claim_levels: list[claim.Level] = field(default_factory=list)
    issue15: Plan15 | None = None


@dataclass(frozen=True)
class Plan15:
    """Sizes of the issue-15 sections (peers, idle-claim, rss)."""

    peer_jobs: int
    peer_latency_jobs: int
    idle_levels: tuple[idleclaim.Level, ...]
    idle_claims: int
    rss_phases: list[rss.Phase]


def _plan15(args: argparse.Namespace, quick: bool) -> Plan15:
    if quick:
        return Plan15(args.jobs or 300, 30, idleclaim.QUICK_LEVELS, 50, [
            rss.Phase("e2e workload", args.jobs or 300), rss.Phase("5,000 jobs", 5_000),
            rss.Phase("4 jobs printing 100 MB", 4, rss.BIG_OUTPUT)])
    return Plan15(args.jobs or 2000, 100, idleclaim.LEVELS, 200, [
        rss.Phase("e2e workload", args.jobs or 2000), rss.Phase("100,000 jobs", 100_000),
        rss.Phase("8 jobs printing 100 MB", 8, rss.BIG_OUTPUT)])


def _plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(args.jobs or 300, [1, 4], 50, 20_000, 1, 2_000, 50, 11, [
            claim.Level("10k pending", 10_000), claim.Level("100k pending", 100_000),
            claim.Level("1M pending", 1_000_000)], _plan15(args, True))
    return Plan(args.jobs or 2000, [1, 2, 4, 8], 200, 100_000, 3, 10_000, 200, 21, [
        claim.Level("10k pending", 10_000), claim.Level("100k pending", 100_000),
        claim.Level("1M pending", 1_000_000),
        claim.Level("10k pending + 1M completed", 10_000, 1_000_000)], _plan15(args, False))


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", required=True,
                   help="server to benchmark; a qbench_<random> database is created there")
    p.add_argument("--jobs", type=int, default=None,
                   help="jobs per end-to-end run and spawns per ceiling level "
                        "(default 2000, quick 300)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer levels (~2 min)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run: {', '.join(SECTIONS)}")
    p.add_argument("--json-out", type=Path, default=None,
                   help="where to write the JSON (default bench/results/<timestamp>.json)")
    p.add_argument("--keep-logs", action="store_true", help="keep the worker logs")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        p.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def _section(results: dict, name: str, fn, *fn_args) -> list[dict]:
    """Run one section, recording its rows, duration and the load before and after."""
    print(f"\n-- running {name} ... (load {report.load()['loadavg'][0]:.2f})", flush=True)
    before, start = report.load(), time.perf_counter()
    rows = fn(*fn_args)
    results["sections"][name] = {"rows": rows, "seconds": time.perf_counter() - start,
                                 "load_before": before, "load_after": report.load()}
    return rows


def _run(args: argparse.Namespace, plan: Plan, sc: scratch.Scratch, work: Path,
         results: dict) -> None:
    s = results["sections"]
    if "ceiling" in args.only:
        tables.ceiling(_section(results, "ceiling", ceiling.measure, plan.jobs, plan.levels))
    if "e2e" in args.only:
        rows = _section(results, "e2e", e2e.measure, sc, work, plan.jobs, plan.levels)
        tables.e2e(rows, s.get("ceiling", {}).get("rows", []))
    if "latency" in args.only:
        tables.latency(_section(results, "latency", latency.measure, sc, work,
                                plan.latency_jobs))
    if "bulk" in args.only:
        tables.bulk(_section(results, "bulk", enqueue.measure, sc, work, plan.bulk_jobs,
                             plan.cli_jobs, plan.bulk_repeats))
    if "claim" in args.only:
        tables.claim(_section(results, "claim", claim.measure, sc, plan.claim_levels,
                              plan.claims))
    if "cli" in args.only:
        tables.cli(_section(results, "cli", clistart.measure, sc, work, plan.cli_repeats))
    if "queues" in args.only:
        queues.print_table(_section(results, "queues", queues.measure, sc, plan.claims))
    _run15(args, plan, sc, work, results)


def _run15(args: argparse.Namespace, plan: Plan, sc: scratch.Scratch, work: Path,
           results: dict) -> None:
    """The issue-15 sections: peers, idle-claim, rss."""
    p = plan.issue15
    assert p is not None
    if "peers" in args.only:
        peers.table(_section(results, "peers", peers.measure, args.database_url, work,
                             p.peer_jobs, p.peer_latency_jobs))
    if "idle-claim" in args.only:
        idleclaim.table(_section(results, "idle-claim", idleclaim.measure, sc, p.idle_levels,
                                 p.idle_claims))
    if "rss" in args.only:
        rss.table(_section(results, "rss", rss.measure, sc, work, p.rss_phases))


def _on_sigterm(signum: int, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the cleanup below


def _header(results: dict) -> None:
    m, load = results["machine"], results["load_start"]
    print(f"queuectl bench — {m['cpu_model']}, {m['cores_usable']}/{m['cores']} cores, "
          f"{m['mem_gib']} GiB; {m['postgresql'].split(' on ')[0]}; Python {m['python']}")
    print(f"commit {m['git_commit']}; scratch database {results['database']}")
    print(f"load at start: {load['uptime']}")


def main(argv: list[str]) -> int:
    """Run the selected sections; returns 0 when every measured target passed, else 1."""
    args = _parse(argv)
    plan = _plan(args)
    signal.signal(signal.SIGTERM, _on_sigterm)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.json_out or _HERE / "results" / f"{stamp}.json"
    results: dict = {"started_at": stamp, "args": {**vars(args), "json_out": str(out)},
                     "plan": {k: v for k, v in vars(plan).items()
                              if k not in ("claim_levels", "issue15")},
                     "plan15": asdict(plan.issue15) if plan.issue15 else None,
                     "sections": {}, "load_start": report.load()}
    work = Path(tempfile.mkdtemp(prefix="qbench-"))
    start = time.perf_counter()
    failed = True
    try:
        with scratch.scratch_database(args.database_url) as sc:
            results["database"] = sc.name
            results["machine"] = report.machine(sc.engine)
            _header(results)
            _run(args, plan, sc, work, results)
        failed = False
    finally:
        results["seconds"] = time.perf_counter() - start
        results["load_end"] = report.load()
        results["completed"] = not failed
        _finish(results, out, work, keep_logs=args.keep_logs or failed)
    print(f"\nload at end: {results['load_end']['uptime']}; took {results['seconds']:.0f}s")
    return 0 if all(t["result"] == "PASS" for t in results["targets"]) else 1


def _finish(results: dict, out: Path, work: Path, *, keep_logs: bool) -> None:
    """Targets, JSON file, log directory: also after a failure, with what was measured."""
    import shutil

    results["targets"] = report.targets(results)
    tables.targets(results["targets"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nJSON written to {out}")
    if keep_logs:
        print(f"worker logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("\ninterrupted: workers stopped, scratch database dropped", file=sys.stderr)
        sys.exit(130)
