"""`worker start`, `worker stop` (and the internal `worker run`).

The processes themselves are `queuectl.supervisor`'s: this module parses options and prints.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from queuectl import db, settings, supervisor
from queuectl import worker as worker_mod
from queuectl.cli import params

__all__ = ["app"]

app = typer.Typer(help="Run and stop worker processes.", no_args_is_help=True)


def _workers_dir() -> Path:
    return settings.data_dir() / "workers"


def _child_argv(ctx: typer.Context, concurrency: int, grace: float | None,
                listen: bool) -> list[str]:
    argv = [sys.executable, "-m", "queuectl"]
    if ctx.obj.database_url:
        argv += ["--database-url", ctx.obj.database_url]
    argv += ["worker", "run", "--concurrency", str(concurrency)]
    if grace is not None:
        argv += ["--grace", str(grace)]
    if not listen:
        argv.append("--no-listen")
    return argv


def _restarting(pid: int, why: str, pause: float) -> None:
    later = f" in {pause:g}s" if pause else ""
    typer.echo(f"worker PID {pid} exited unexpectedly ({why}); restarting it{later}", err=True)


@app.command()
def start(
    ctx: typer.Context,
    count: int = typer.Option(1, "--count", "-c", min=1, max=256,
                              help="Number of worker processes."),
    concurrency: int = typer.Option(1, "--concurrency", "-j", min=1, max=256,
                                    help="Jobs each worker process runs at once."),
    daemon: bool = typer.Option(False, "--daemon", "-d", help="Detach and log to a file."),
    grace: float = typer.Option(None, "--grace", min=0, max=params.MAX_SECONDS,
                                callback=params.finite,
                                help="On stop, kill jobs still running after this many seconds "
                                     "and put them back to pending."),
    listen: bool = typer.Option(True, "--listen/--no-listen",
                                help="Use LISTEN/NOTIFY wake-ups (off behind a transaction "
                                     "pooler)."),
) -> None:
    """Start worker processes (foreground by default; Ctrl-C stops them gracefully)."""
    ctx.obj.engine()  # fail fast on a bad database, and migrate once, before forking
    argv = _child_argv(ctx, concurrency, grace, listen)
    if not daemon:
        raise typer.Exit(code=supervisor.supervise(argv, count, on_restart=_restarting))
    log_path = settings.data_dir() / "worker.log"
    pids = supervisor.start_daemons(argv, count, directory=_workers_dir(), log_path=log_path)
    typer.echo(f"Started {count} worker(s)")
    for i, pid in enumerate(pids, 1):
        typer.echo(f"  worker {i}: PID {pid}")
    typer.echo(f"Logs: {log_path}")


@app.command()
def stop(
    timeout: float = typer.Option(None, "--timeout", min=0, max=params.MAX_SECONDS,
                                  callback=params.finite,
                                  help="Give up waiting after this many seconds."),
    grace: float = typer.Option(None, "--grace", min=0, max=params.MAX_SECONDS,
                                callback=params.finite,
                                help="After this many seconds, kill running jobs (they go "
                                     "back to pending)."),
) -> None:
    """Stop daemon workers gracefully: running jobs finish first."""
    directory = _workers_dir()
    pids = supervisor.running_daemons(directory)
    if not pids:
        typer.echo("No daemon workers are running", err=True)
        return
    typer.echo(f"Stopping {len(pids)} worker(s): waiting for running jobs to finish")
    supervisor.stop_daemons(directory, pids, timeout=timeout, grace=grace)
    for pid in pids:
        typer.echo(f"  worker PID {pid}: {supervisor.how_it_ended(directory, pid)}")


@app.command(hidden=True)
def run(
    ctx: typer.Context,
    concurrency: int = typer.Option(1, "--concurrency", min=1),
    grace: float = typer.Option(None, "--grace", min=0, max=params.MAX_SECONDS,
                                callback=params.finite),
    listen: bool = typer.Option(True, "--listen/--no-listen"),
    pid_dir: Path = typer.Option(None, "--pid-dir"),
) -> None:
    """Run one worker in this process (used by `worker start`)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    engine = db.create_engine(ctx.obj.target(), worker=True)
    worker = worker_mod.Worker(engine, concurrency=concurrency, listen=listen, grace=grace)
    if pid_dir is not None:
        pid_file = pid_dir / f"{os.getpid()}.pid"

        def ready() -> None:  # `worker start --daemon` waits for this file
            pid_file.write_text(f"{os.getpid()}\n")

        worker.on_ready = ready
    summary = worker.run()
    if pid_dir is not None:
        supervisor.write_exit_report(pid_dir, os.getpid(), summary)
    engine.dispose()
