"""`logs`: print a job's captured output (stdout and stderr together).

The output is what the store holds for the job's latest run: the last 1 MiB. Printing is split
from fetching (`_emit`) so that a `--follow` mode can reuse it for each new piece.
"""

from __future__ import annotations

import typer

from queuectl import store
from queuectl.cli import complete

__all__ = ["register"]


def _tail(text: str, lines: int | None) -> str:
    """The last `lines` lines of `text` (all of it for None)."""
    if lines is None:
        return text
    if lines == 0:
        return ""
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept)


def _emit(text: str) -> None:
    """Write output as it was captured, with a final newline if it lacked one."""
    if text:
        typer.echo(text, nl=not text.endswith("\n"))


def logs(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix.",
                                 autocompletion=complete.job_ids),
    tail: int = typer.Option(None, "--tail", "-n", metavar="N", min=0,
                             help="Only the last N lines."),
) -> None:
    """Print a job's captured output.

    stdout and stderr together, from the job's latest run; the last 1 MiB is kept.

    Example: queuectl logs 6db8 --tail 20
    """
    job = store.get_job(ctx.obj.engine(), job_id=job_id)
    if job.output_truncated and tail is None:
        typer.echo(f"(job {job.id}: output truncated, only the last 1 MiB is kept)", err=True)
    if not job.output:
        why = "has not run yet" if job.started_at is None else "printed nothing"
        typer.echo(f"(job {job.id} {why}: no output)", err=True)
        return
    _emit(_tail(job.output, tail))


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command()(logs)
