"""`metrics`: counts, throughput and run durations over a recent window, as a table or JSON."""

from __future__ import annotations

from typing import Any

import typer

from queuectl import store
from queuectl.cli import output

__all__ = ["register"]


def _report(overview: Any) -> dict[str, Any]:
    """The metrics as the JSON object `metrics --json` prints."""
    runs = {outcome: sum(getattr(m, outcome) for m in overview.throughput)
            for outcome in ("completed", "failed", "dead")}
    minutes = overview.window_minutes
    return {
        "counts": overview.counts,
        "total": overview.total,
        "window_minutes": minutes,
        "runs": runs,
        "throughput_per_minute": round(runs["completed"] / minutes, 3),
        "avg_duration": overview.avg_duration,
        "p95_duration": overview.p95_duration,
        "queue_depth": overview.queue_depth,
        "oldest_waiting_age": overview.oldest_waiting_age,
        "live_workers": len(overview.workers),
    }


def metrics(
    ctx: typer.Context,
    minutes: int = typer.Option(60, "--minutes", "-m", metavar="N", min=1, max=7 * 24 * 60,
                                help="Window for runs, throughput and durations."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Counts, throughput and average/p95 run duration.

    Runs, throughput and durations cover the last N minutes (--minutes, default 60).

    Example: queuectl metrics --minutes 15 --json
    """
    report = _report(store.dashboard_overview(ctx.obj.engine(), window_minutes=minutes,
                                              running_limit=0))
    if as_json:
        output.emit_json(report)
        return
    window = f"last {minutes} min"
    rows: list[list[Any]] = [[f"jobs {state}", n] for state, n in report["counts"].items()]
    rows += [["jobs total", report["total"]]]
    rows += [[f"runs {outcome} ({window})", n] for outcome, n in report["runs"].items()]
    rows += [
        [f"throughput ({window})", f"{report['throughput_per_minute']:g} jobs/min"],
        [f"avg duration ({window})", output.fmt_duration(report["avg_duration"])],
        [f"p95 duration ({window})", output.fmt_duration(report["p95_duration"])],
        ["queue depth (due now)", report["queue_depth"]],
        ["oldest waiting", output.fmt_duration(report["oldest_waiting_age"])],
        ["live workers", report["live_workers"]],
    ]
    output.table(rows, ["METRIC", "VALUE"])


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command()(metrics)
