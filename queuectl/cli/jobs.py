"""`enqueue`, `status`, `list` and `show`."""

from __future__ import annotations

import sys

import typer

from queuectl import jobspec, store
from queuectl.cli import output, params
from queuectl.models import JobState

__all__ = ["register"]

JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")


def enqueue(
    ctx: typer.Context,
    payload: str = typer.Argument(
        ..., metavar="JSON", help='A job object or array, e.g. \'{"command": "echo hi"}\'; '
        "'-' reads standard input."),
    as_json: bool = JSON_OPT,
) -> None:
    """Add jobs to the queue (an array is enqueued in one transaction, all or none)."""
    text = jobspec.decode(sys.stdin.buffer.read(), "standard input") if payload == "-" else payload
    specs = jobspec.parse_payload(text)
    engine = ctx.obj.engine()
    ids = store.enqueue_jobs(engine, specs=specs)
    if as_json:
        jobs = [output.job_json(j) for j in store.get_jobs(engine, ids=ids)]
        single = not text.lstrip("\ufeff \t\r\n").startswith("[")
        output.emit_json(jobs[0] if single else jobs)
        return
    typer.echo("\n".join(f"Job {job_id} enqueued" for job_id in ids))


def status(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Counts per state, average duration and the live workers."""
    result = store.status(ctx.obj.engine())
    if as_json:
        output.emit_json({
            "counts": result.counts,
            "total": result.total,
            "avg_duration": result.avg_duration,
            "workers": [output.worker_json(w) for w in result.workers],
        })
        return
    total = result.total or 1
    rows = [[s.upper(), n, f"{100 * n / total:.1f}%"] for s, n in result.counts.items()]
    rows.append(["TOTAL", result.total, ""])
    output.table(rows, ["STATE", "JOBS", "%"])
    typer.echo(f"\nAverage duration (completed): {output.fmt_duration(result.avg_duration)}")
    typer.echo(f"Active workers: {len(result.workers)}")
    if result.workers:
        output.table(
            [[w.host, w.pid, w.state, f"{len(w.running)}/{w.concurrency}",
              ", ".join(w.running) or "-", output.fmt_time(w.heartbeat_at)]
             for w in result.workers],
            ["HOST", "PID", "STATE", "BUSY", "RUNNING", "HEARTBEAT"],
        )


def list_(
    ctx: typer.Context,
    state: str = typer.Option(None, "--state", "-s", help="Only jobs in this state."),
    tag: str = typer.Option(None, "--tag", "-t", help="Only jobs with this tag."),
    limit: int = typer.Option(50, "--limit", "-n", min=1,
                              max=params.MAX_LIMIT, help="At most this many jobs."),
    as_json: bool = JSON_OPT,
) -> None:
    """List jobs, newest first."""
    jobs = store.list_jobs(ctx.obj.engine(), state=JobState.parse(state), tag=tag, limit=limit)
    if as_json:
        output.emit_json([output.job_json(j) for j in jobs])
        return
    output.table(
        [[j.id, j.state.value, output.short(j.command), j.attempts, j.priority,
          output.fmt_time(j.run_at), output.fmt_time(j.updated_at)] for j in jobs],
        ["ID", "STATE", "COMMAND", "ATTEMPTS", "PRIORITY", "RUN_AT", "UPDATED"],
    )


def show(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    as_json: bool = JSON_OPT,
) -> None:
    """Everything about one job, including its captured output."""
    job = store.get_job(ctx.obj.engine(), job_id=job_id)
    if as_json:
        output.emit_json(output.job_json(job))
        return
    timeout = f"{job.timeout_ms} ms" if job.timeout_ms else "none (config job_timeout applies)"
    fields = [
        ("id", job.id),
        ("command", job.command),
        ("state", job.state.value),
        ("attempts", f"{job.attempts}/{job.max_retries} (max_retries; at most "
                     f"{job.max_retries + 1} runs)"),
        ("priority", job.priority),
        ("run_at", output.fmt_time(job.run_at)),
        ("timeout", timeout),
        ("tags", ", ".join(job.tags) or "-"),
        ("created", output.fmt_time(job.created_at)),
        ("started", output.fmt_time(job.started_at)),
        ("finished", output.fmt_time(job.finished_at)),
        ("duration", output.fmt_duration(job.duration)),
        ("exit code", "-" if job.exit_code is None else job.exit_code),
        ("last error", job.error or "-"),
    ]
    width = max(len(k) for k, _ in fields) + 1
    typer.echo("\n".join(f"{k + ':':<{width}} {v}" for k, v in fields))
    note = " (truncated: last 1 MiB shown)" if job.output_truncated else ""
    typer.echo(f"output{note}:")
    if job.output:
        typer.echo(job.output.rstrip("\n"))
    else:
        typer.echo("-")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(enqueue)
    app.command()(status)
    app.command("list")(list_)
    app.command()(show)
