"""`logs`: print a job's captured output (stdout and stderr together).

While a job runs, its worker stores new output at least every second; `--follow` prints it as
it arrives (`queuectl.cli.follow`), then says on stderr how a run that did not complete ended.
After the run, the output is what the store holds for the job's latest run: the last 1 MiB.

The output is printed as it was captured, control characters included (as `cat` would: a
job's colours reach the terminal); `show` prints it escaped.
"""

from __future__ import annotations

import sys

import typer

from queuectl import store
from queuectl.cli import complete, output

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
                             help="Only the last N lines (of what is there so far)."),
    follow_: bool = typer.Option(False, "--follow", "-f",
                                 help="Print new output as it arrives until the run ends "
                                      "(exit 0 if the job completed, 1 otherwise)."),
) -> None:
    """Print a job's output; -f follows it live.

    stdout and stderr together, from the job's latest run; the last 1 MiB is kept.

    Example: queuectl logs -f 6db8
    """
    from queuectl.cli import follow
    from queuectl.core.records import JobState

    engine = ctx.obj.engine()
    if follow_:
        job = follow.follow_output(engine, job_id=job_id, write=_write, tail=tail)
        ended = follow.ending(job)
        if ended is not None:
            typer.echo(ended, err=True)
        raise typer.Exit(code=0 if job.state is JobState.COMPLETED else 1)
    read = store.read_output(engine, job_id=job_id)
    job = read.job
    if job.state is JobState.PROCESSING and read.chunks:  # live, flushed by its worker
        _emit(_tail("".join(text for _, text in read.chunks), tail))
        return
    if job.output_truncated and tail is None:
        typer.echo(f"(job {output.escape(job.id)}: output truncated, only the last 1 MiB is "
                   "kept)", err=True)
    if not job.output:
        why = "has not run yet" if job.started_at is None else "printed nothing"
        typer.echo(f"(job {output.escape(job.id)} {why}: no output)", err=True)
        return
    _emit(_tail(job.output, tail))


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command()(logs)
