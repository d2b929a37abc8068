"""Steering jobs from any host: `cancel`, `signal`, `pause`, `resume`, `retry`, `wait` (and
`logs -f`, in `logs`)."""

from __future__ import annotations

import sys
import time

import typer

from queuectl import store
from queuectl.cli import follow, output
from queuectl.core import signals
from queuectl.core.records import JobState

__all__ = ["register"]

IDS = typer.Argument(..., metavar="ID...", help="Job ids or unique prefixes.")
_ANSWER_WITHIN = 5.0  # seconds `cancel` waits to say how a running job ended


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _report(answers: list[store.Steered]) -> None:
    for a in answers:
        typer.echo(output.escape(f"Job {a.job_id}: {a.note}"))


def cancel(
    ctx: typer.Context,
    job_ids: list[str] = IDS,
    signal_: str = typer.Option("TERM", "--signal", "-s", metavar="SIG",
                                help="Signal for a running job's process group (SIGKILL "
                                     "follows 2 s later)."),
) -> None:
    """Cancel jobs, waiting or running (on any host).

    Waiting jobs are cancelled at once. A running job's process group gets SIGTERM (or
    --signal), then SIGKILL 2 s later; the job ends cancelled, not retried.

    Example: queuectl cancel 6db8 7a1c
    """
    signum = follow.parse_signal(signal_)
    engine = ctx.obj.engine()
    answers = store.cancel_jobs(engine, ids=job_ids, signal=signum)
    running = [a.job_id for a in answers if a.requested]
    _report([a for a in answers if not a.requested])
    if not running:
        return
    deadline = time.monotonic() + _ANSWER_WITHIN
    jobs = store.get_jobs(engine, ids=running)
    while any(j.state is JobState.PROCESSING for j in jobs) and time.monotonic() < deadline:
        time.sleep(0.1)
        jobs = store.get_jobs(engine, ids=running)
    for job in jobs:
        shown = output.escape(job.id)
        if job.state is JobState.CANCELLED:
            typer.echo(f"Job {shown}: cancelled")
        elif job.state is JobState.PROCESSING:
            typer.echo(f"Job {shown}: cancel requested; its worker has not answered yet "
                       "(it will at its next heartbeat)")
        else:
            typer.echo(f"Job {shown}: ended {job.state.value} before the cancel reached it")


def signal(
    ctx: typer.Context,
    job_id: str = typer.Argument(..., metavar="ID", help="Job id or unique prefix."),
    sig: str = typer.Argument(..., metavar="SIG", help="Signal name or number (HUP, USR1)."),
) -> None:
    """Signal a running job's process group, on any host.

    The job's state does not change. STOP, CONT, TSTP, TTIN and TTOU are refused: pause and
    resume send those and keep the job's state and timeout clock with them.

    Example: queuectl signal 6db8 HUP
    """
    signum = follow.parse_signal(sig)
    signals.check_user_signal(signum)
    _report([store.signal_job(ctx.obj.engine(), job_id=job_id, signal=signum)])


def _ids_or_all(job_ids: list[str] | None, all_: bool) -> None:
    if all_ == bool(job_ids):
        raise typer.BadParameter("give job IDs or --all")


def pause(
    ctx: typer.Context,
    job_ids: list[str] = typer.Argument(None, metavar="[ID...]", help="Jobs to pause."),
    all_: bool = typer.Option(False, "--all", help="Stop claiming across the whole fleet "
                                                   "(running jobs go on)."),
) -> None:
    """Pause jobs, or the fleet's claiming (--all).

    A running job's process group gets SIGSTOP (its lease and timeout clock wait); a waiting
    job is held: never claimed until resumed.

    Example: queuectl pause 6db8
    """
    _ids_or_all(job_ids, all_)
    if all_:
        store.set_claiming(ctx.obj.engine(), paused=True, client=_client())
        typer.echo("Claiming paused across the fleet; running jobs go on "
                   "(`queuectl resume --all` restarts it)")
        return
    _report(store.pause_jobs(ctx.obj.engine(), ids=job_ids or []))


def resume(
    ctx: typer.Context,
    job_ids: list[str] = typer.Argument(None, metavar="[ID...]", help="Jobs to resume."),
    all_: bool = typer.Option(False, "--all", help="Restart claiming across the fleet."),
) -> None:
    """Resume paused jobs, or the fleet's claiming (--all).

    A paused running job gets SIGCONT; a held job becomes pending again.

    Example: queuectl resume --all
    """
    _ids_or_all(job_ids, all_)
    if all_:
        store.set_claiming(ctx.obj.engine(), paused=False)
        typer.echo("Claiming resumed across the fleet")
        return
    _report(store.resume_jobs(ctx.obj.engine(), ids=job_ids or []))


def retry(ctx: typer.Context, job_ids: list[str] = IDS) -> None:
    """Put finished jobs back to pending, attempts reset.

    Completed, dead and cancelled jobs run again; `dlq retry` does the same for dead ones.

    Example: queuectl retry 6db8
    """
    _report(store.retry_jobs(ctx.obj.engine(), ids=job_ids))


def _progress(done: int, total: int) -> None:
    if total > 1 and sys.stderr.isatty():
        end = "\n" if done == total else ""
        sys.stderr.write(f"\rwaiting: {done}/{total} finished{end}")
        sys.stderr.flush()


def wait(
    ctx: typer.Context,
    job_ids: list[str] = IDS,
    timeout: float = typer.Option(None, "--timeout", min=0, metavar="S",
                                  help="Give up after S seconds (exit 2)."),
) -> None:
    """Block until every job has finished.

    One line per job with its final state; exit 0 if all completed, 1 if any ended otherwise,
    2 on timeout (after the lines of the jobs that did finish, and an error naming the
    others).

    Example: queuectl wait 6db8 7a1c --timeout 600
    """
    jobs = follow.wait_for_jobs(ctx.obj.engine(), ids=job_ids, timeout=timeout,
                                progress=_progress)
    for job in jobs:
        if job.state.finished:
            typer.echo(f"{output.escape(job.id)} {job.state.value}")
    left = [j for j in jobs if not j.state.finished]
    if left:
        named = ", ".join(f"{j.id} ({output.job_state(j.state.value, j.paused_at)})"
                          for j in left)
        typer.echo(output.escape(
            f"error: timed out after {timeout:g}s: {output.plural(len(left), 'job')} of "
            f"{len(jobs)} not finished yet: {named}"), err=True)
        raise typer.Exit(code=2)
    raise typer.Exit(code=0 if all(j.state is JobState.COMPLETED for j in jobs) else 1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command()(cancel)
    app.command()(signal)
    app.command()(pause)
    app.command()(resume)
    app.command()(retry)
    app.command()(wait)


def _client() -> str:
    """This client as it reports itself in what it records: OS user@host."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        user = "?"
    return f"{user}@{socket.gethostname()}"
