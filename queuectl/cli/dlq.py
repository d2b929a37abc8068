"""`dlq list` and `dlq retry`: the dead letter queue."""

from __future__ import annotations

import typer

from queuectl import serialize, store
from queuectl.cli import complete, output, params

__all__ = ["app"]

app = typer.Typer(help="The dead letter queue: jobs that ran out of retries.",
                  no_args_is_help=True, rich_markup_mode=None)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: int = typer.Option(100, "--limit", "-n", metavar="N", min=1,
                              max=params.MAX_LIMIT, help="At most this many jobs."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Dead jobs, the latest to die first, with their last error.

    Example: queuectl dlq list --limit 20
    """
    jobs = store.list_dead_jobs(ctx.obj.engine(), limit=limit)
    if as_json:
        output.emit_json([serialize.job_json(j) for j in jobs])
        return
    if not jobs:
        typer.echo("no jobs", err=True)
        return
    output.table(
        [[j.id, output.short(j.command, 40), output.fmt_runs(j.attempts, j.max_retries),
          output.short(j.error, 60), output.fmt_time(j.finished_at)] for j in jobs],
        ["ID", "COMMAND", "RUN", "LAST ERROR", "DIED"],
    )


@app.command()
def retry(
    ctx: typer.Context,
    job_id: str = typer.Argument(None, metavar="ID", help="Job id or unique prefix.",
                                 autocompletion=complete.job_ids),
    all_: bool = typer.Option(False, "--all", help="Retry every dead job."),
) -> None:
    """Put a dead job back to pending.

    Its attempts are reset and run_at is now.

    Example: queuectl dlq retry d4e5f6a7   (or: queuectl dlq retry --all)
    """
    if all_ == (job_id is not None):
        raise typer.BadParameter("give either a job ID or --all")
    if all_:
        n = store.retry_all_dead(ctx.obj.engine())
        typer.echo(f"{output.plural(n, 'dead job')} moved back to pending")
        return
    job = store.retry_dead(ctx.obj.engine(), job_id=job_id)
    typer.echo(f"Job {job.id} moved back to pending")
