"""`enqueue`, `status`, `list` and `show`."""

from __future__ import annotations

import sys

import typer

from queuectl import db, errors, serialize, store
from queuectl.cli import complete, output, params, progress
from queuectl.core import jobspec, queuespec
from queuectl.core.records import Job, JobState
from queuectl.store import quick

__all__ = ["register"]

JSON_OPT = typer.Option(False, "--json", help="Print machine-readable JSON.")
_STATES = ", ".join(s.value for s in JobState)
_BAR_ABOVE = 1000  # jobs; smaller payloads finish before a bar would be worth drawing


def enqueue(
    ctx: typer.Context,
    payload: str = typer.Argument(
        ..., metavar="JSON", help='A job object or array, e.g. \'{"command": "echo hi"}\'; '
        "'-' reads standard input."),
    as_json: bool = JSON_OPT,
    wait: bool = typer.Option(False, "--wait", help="Then wait until the jobs have finished "
                              "(exit 0 if all completed, 1 otherwise)."),
    follow_: bool = typer.Option(False, "--follow", help="Then stream the job's output live "
                                 "and exit with its exit code (1 if it ended without one)."),
    here: bool = typer.Option(False, "--here", help="Run the jobs that set no cwd in the "
                              "current directory."),
) -> None:
    """Add jobs to the queue.

    An array is enqueued in one transaction (all or none). --wait then waits until they have
    finished; --follow streams the job's output and exits with its exit code.

    Example: queuectl enqueue '{"command": "make test"}' --follow
    """
    if wait and follow_:
        raise typer.BadParameter("give --wait or --follow, not both")
    text = jobspec.decode(sys.stdin.buffer.read(), "standard input") if payload == "-" else payload
    specs = _parse(ctx, text, here)
    if follow_ and len(specs) != 1:
        raise typer.BadParameter("--follow takes one job, not an array")
    target = ctx.obj.target()
    bar = progress.bar("enqueueing", len(specs), more_than=_BAR_ABOVE)
    with ctx.obj.connection() as conn, db.translate_psycopg_errors(target), bar as advance:
        results = quick.enqueue(conn, specs=specs, on_batch=advance)
    ids = [r.id for r in results]
    if as_json:
        jobs = [{**serialize.job_json(j), "duplicate": r.duplicate}
                for j, r in zip(store.get_jobs(ctx.obj.engine(), ids=ids), results, strict=True)]
        single = not text.lstrip("\ufeff \t\r\n").startswith("[")
        output.emit_json(jobs[0] if single else jobs)
    elif not follow_:
        typer.echo("\n".join(_enqueued_line(r, s) for r, s in zip(results, specs, strict=True)))
    if follow_:
        from queuectl.cli import follow

        typer.echo(f"Job {ids[0]} enqueued; following its output", err=True)
        job = follow.follow_output(ctx.obj.engine(), job_id=ids[0], write=_write)
        ended = follow.ending(job)
        if ended is not None:
            typer.echo(ended, err=True)
        raise typer.Exit(code=job.exit_code if job.exit_code is not None else 1)
    if wait:
        from queuectl.cli import follow

        waited = follow.wait_for_jobs(ctx.obj.engine(), ids=ids, timeout=None)
        for job in waited:
            typer.echo(f"{job.id} {job.state.value}", err=as_json)
        raise typer.Exit(code=0 if all(j.state is JobState.COMPLETED for j in waited) else 1)


def _parse(ctx: typer.Context, text: str, here: bool) -> list[jobspec.JobSpec]:
    """The payload's jobs. One whose id is taken is the mistake to report first, before a
    cycle its `after` lists make (`{"id": "x", "after": ["x"]}` with x stored)."""
    try:
        return jobspec.parse_payload(text, here=_here() if here else None)
    except errors.DependencyCycle as exc:
        with ctx.obj.connection() as conn, db.translate_psycopg_errors(ctx.obj.target()):
            quick.refuse_taken_ids(conn, ids=exc.ids)
        raise


def _here() -> str:
    import os

    try:
        return os.getcwd()
    except OSError as exc:  # the directory was removed under us
        raise typer.BadParameter(f"--here: the current directory is gone ({exc.strerror})"
                                 ) from None


def _enqueued_line(result: quick.Enqueued, spec: jobspec.JobSpec) -> str:
    return output.escape(_enqueued_text(result, spec))


def _enqueued_text(result: quick.Enqueued, spec: jobspec.JobSpec) -> str:
    if result.duplicate:
        return f"Job {result.id} already enqueued (unique_key {result.unique_key})"
    if result.state is JobState.WAITING:
        return f"Job {result.id} enqueued, waiting for {', '.join(spec.after)}"
    if result.state is JobState.CANCELLED:
        return f"Job {result.id} enqueued and cancelled: {result.error}"
    return f"Job {result.id} enqueued"


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def status(ctx: typer.Context, as_json: bool = JSON_OPT) -> None:
    """Counts per state, live workers and the database read.

    Example: queuectl status --json
    """
    target = ctx.obj.target()
    with ctx.obj.connection() as conn, db.translate_psycopg_errors(target):
        result = quick.status(conn)
        server = db.reached(conn)
    if as_json:
        output.emit_json({
            "counts": result.counts,
            "total": result.total,
            "claimed": result.claimed,
            "avg_duration": result.avg_duration,
            "workers": [serialize.worker_json(w) for w in result.workers],
            "database": target.where,
            "context": target.context,
            "connected_to": server,
            "claiming_paused": (None if result.claiming_paused_since is None
                                else {"since": serialize.iso(result.claiming_paused_since),
                                      "by": result.claiming_paused_by}),
        })
        return
    if result.claiming_paused_since is not None:
        line = output.claiming_paused_line(result.claiming_paused_since,
                                           result.claiming_paused_by)
        typer.echo(line[0].upper() + line[1:] + "\n")
    total = result.total or 1
    rows = [[s.upper(), n, f"{100 * n / total:.1f}%"] for s, n in result.counts.items()]
    if result.claimed:
        rows.append(["(CLAIMED, NOT STARTED)", result.claimed,
                     f"{100 * result.claimed / total:.1f}%"])
    rows.append(["TOTAL", result.total, ""])
    output.table(rows, ["STATE", "JOBS", "%"])
    typer.echo(f"\nAverage duration (completed): {output.fmt_duration(result.avg_duration)}")
    typer.echo(f"Active workers: {len(result.workers)}")
    if result.workers:
        output.table(
            [[w.host, w.pid, w.state, "*" if w.leader else "",
              f"{len(w.running)}/{w.concurrency}", ", ".join(w.running) or "-",
              output.fmt_time(w.heartbeat_at)]
             for w in result.workers],
            ["HOST", "PID", "STATE", "LEADER", "BUSY", "RUNNING", "HEARTBEAT"],
        )
    named = f", context {target.context}" if target.context else ""
    typer.echo(f"\nDatabase: {output.escape(f'{target.where} (connected to {server}{named})')}")


def list_(
    ctx: typer.Context,
    state: str = typer.Option(None, "--state", "-s", metavar="STATE",
                              help=f"Only jobs in this state: {_STATES}.",
                              autocompletion=complete.states),
    tag: str = typer.Option(None, "--tag", "-t", metavar="TAG", help="Only jobs with this tag."),
    queue: str = typer.Option(None, "--queue", "-q", metavar="NAME",
                              help="Only jobs of this queue."),
    cron: str = typer.Option(None, "--cron", metavar="NAME",
                             help="Only jobs that cron schedule NAME enqueued."),
    limit: int = typer.Option(50, "--limit", "-n", metavar="N", min=1,
                              max=params.MAX_LIMIT, help="At most this many jobs."),
    as_json: bool = JSON_OPT,
) -> None:
    """List jobs, newest first.

    Example: queuectl list --state failed --limit 20
    """
    if queue is not None:
        queuespec.check_name(queue)
    jobs = store.list_jobs(ctx.obj.engine(), state=JobState.parse(state), tag=tag, queue=queue,
                           limit=limit, cron_name=cron)
    if as_json:
        output.emit_json([serialize.job_json(j) for j in jobs])
        return
    if not jobs:
        typer.echo("no jobs", err=True)
        return
    output.table(
        [[j.id, output.job_state(j.state.value, j.paused_at), j.queue, output.short(j.command),
          output.fmt_runs(j.attempts, j.max_retries), j.priority, output.fmt_time(j.run_at),
          output.fmt_time(j.updated_at)] for j in jobs],
        ["ID", "STATE", "QUEUE", "COMMAND", "RUN", "PRIORITY", "RUN_AT", "UPDATED"],
    )


def show(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix.",
                                 autocompletion=complete.job_ids),
    as_json: bool = JSON_OPT,
    env: bool = typer.Option(False, "--env", help="Also print the values of the job's "
                             "environment variables (by default only their names)."),
) -> None:
    """Everything about one job, including its captured output.

    Example: queuectl show 6db8 --env
    """
    job = store.get_job(ctx.obj.engine(), job_id=job_id)
    if as_json:
        output.emit_json(serialize.job_json(job, env_values=env))
        return
    timeout = f"{job.timeout_ms} ms" if job.timeout_ms else "none (config job_timeout applies)"
    fields = [
        ("id", job.id),
        ("command", job.command),
        ("state", job.state.value),
        *_paused_fields(job),
        ("queue", job.queue),
        ("runs", f"{output.fmt_runs(job.attempts, job.max_retries)}; "
                 f"max_retries {job.max_retries}"),
        ("priority", job.priority),
        ("run_at", output.fmt_time(job.run_at)),
        ("timeout", timeout),
        ("tags", ", ".join(job.tags) or "-"),
        ("policy", _policy(job)),
        ("cwd", job.cwd or "- (the worker's directory)"),
        ("env", ", ".join(sorted(job.env or {})) or "-"),
        ("unique_key", job.unique_key or "-"),
        *_after_fields(ctx, job),
        ("cron", job.cron_name or "-"),
        ("created", output.fmt_time(job.created_at)),
        *_run_fields(job),
        ("last error", job.error or "-"),
    ]
    width = max(len(k) for k, _ in fields) + 1
    typer.echo("\n".join(f"{k + ':':<{width}} {output.escape(str(v))}" for k, v in fields))
    if env and job.env:
        typer.echo("environment:")
        typer.echo("\n".join(f"  {name}={output.escape(value)}"
                              for name, value in sorted(job.env.items())))
    note = " (truncated: last 1 MiB shown)" if job.output_truncated else ""
    typer.echo(f"output{note}:")
    if job.output:  # its lines as lines; any other control character escaped (`logs`: raw)
        typer.echo(output.escape(job.output.rstrip("\n"), keep="\n\t"))
    else:
        typer.echo("-")


def _paused_fields(job: Job) -> list[tuple[str, str]]:
    """`paused` for a running job that `pause` stopped (its process group got SIGSTOP)."""
    if job.state is not JobState.PROCESSING or job.paused_at is None:
        return []
    return [("paused", f"{output.fmt_time(job.paused_at)} (SIGSTOP)")]


def _run_fields(job: Job) -> list[tuple[str, str]]:
    """The run's times and result. A running job's started is its current run's; its
    finished, duration and exit code are still those of its previous run, so they are shown
    apart, as that run's, not as this one's."""
    code = "-" if job.exit_code is None else str(job.exit_code)
    if job.state is not JobState.PROCESSING:
        return [("started", output.fmt_time(job.started_at)),
                ("finished", output.fmt_time(job.finished_at)),
                ("duration", output.fmt_duration(job.duration)), ("exit code", code)]
    fields = [("started", output.fmt_time(job.started_at) if job.started_at
               else "- (claimed by a worker, not started yet)"),
              ("finished", "- (running)"), ("duration", "- (running)"), ("exit code", "-")]
    if job.finished_at is not None:
        took = f" after {output.fmt_duration(job.duration)}" if job.duration is not None else ""
        fields.append(("last run ended",
                       f"{output.fmt_time(job.finished_at)}{took}, exit code {code}"))
    return fields


def _policy(job: Job) -> str:
    parts = []
    if job.retry_on is not None:
        parts.append("retry_on " + (", ".join(map(str, job.retry_on)) or "none"))
    if job.no_retry_on is not None:
        parts.append("no_retry_on " + ", ".join(map(str, job.no_retry_on)))
    if job.backoff_base is not None:
        parts.append(f"backoff_base {job.backoff_base:g}")
    return "; ".join(parts) or "config"


def _after_fields(ctx: typer.Context, job: Job) -> list[tuple[str, str]]:
    """`after` (with each job's state) and, while the job waits, what it is waiting for."""
    if not job.after:
        return []
    deps = store.get_dependencies(ctx.obj.engine(), job_id=job.id)
    fields = [("after", ", ".join(f"{i} ({s.value})" for i, s in deps) or "-")]
    if job.state is JobState.WAITING:
        pending = [f"{i} ({s.value})" for i, s in deps if s is not JobState.COMPLETED]
        fields.append(("waiting for", ", ".join(pending)))
    return fields


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(enqueue)
    app.command()(status)
    app.command("list")(list_)
    app.command()(show)
