"""`worker start`, `worker stop` (and the internal `worker run`).

The processes themselves are `queuectl.worker.supervisor`'s: this module parses options and prints.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import typer

from queuectl import db, errors, settings
from queuectl.cli import params

__all__ = ["app"]

app = typer.Typer(help="Run and stop worker processes.", no_args_is_help=True,
                  rich_markup_mode=None)


def _home(ctx: typer.Context) -> Path:
    """The data directory of this queue: its context's `home` when it has one."""
    try:
        target = ctx.obj.target()
    except errors.DatabaseUnavailable:  # `worker stop` still stops this home's daemons
        target = None
    return settings.data_dir(target)


def _workers_dir(ctx: typer.Context) -> Path:
    return _home(ctx) / "workers"


def _child_argv(ctx: typer.Context, concurrency: int, grace: float | None,
                listen: bool, queues: str | None = None,
                job_log_dir: Path | None = None) -> list[str]:
    argv = [sys.executable, "-m", "queuectl"]
    if ctx.obj.database_url:
        argv += ["--database-url", ctx.obj.database_url]
    elif ctx.obj.target().context:  # a restarted worker stays on this queue after `context use`
        argv += ["--context", ctx.obj.target().context]
    argv += ["worker", "run", "--concurrency", str(concurrency)]
    if grace is not None:
        argv += ["--grace", str(grace)]
    if not listen:
        argv.append("--no-listen")
    if queues is not None:
        argv += ["--queue", queues]
    if job_log_dir is not None:
        argv += ["--job-log-dir", str(job_log_dir)]
    return argv


_JOB_LOG_ENV = "QUEUECTL_JOB_LOG_DIR"


def _job_log_dir(value: str | None) -> Path | None:
    """`--job-log-dir DIR` as an absolute path (`~` expanded) of a directory that exists (it
    is created, private to this user) and is writable; or one error line, exit 1."""
    if value is None:
        return None
    if not value.strip():
        raise typer.BadParameter("must name a directory", param_hint="'--job-log-dir'")
    directory = Path(os.path.abspath(os.path.expanduser(value)))
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.QueuectlError(
            f"cannot use --job-log-dir {directory}: {exc.strerror or exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise errors.QueuectlError(f"cannot use --job-log-dir {directory}: not writable")
    return directory


def _queues(value: str | None) -> str | None:
    """`--queue a,b`: validated (a usage error before anything starts), as given."""
    from queuectl.core import queuespec

    names = queuespec.parse_names(value)
    return None if names is None else ",".join(names)


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
    queue: str = typer.Option(None, "--queue", "-q", metavar="NAME[,NAME...]",
                              help="Claim only from these queues (default: all queues)."),
    job_log_dir: str = typer.Option(
        None, "--job-log-dir", metavar="DIR", envvar=_JOB_LOG_ENV, show_envvar=True,
        help="Also append each run's output to DIR/<job id>.log (created if missing)."),
) -> None:
    """Start worker processes.

    In the foreground by default (Ctrl-C stops them gracefully), or detached with --daemon.

    Example: queuectl worker start --count 2 --concurrency 4 --daemon
    """
    from queuectl import store
    from queuectl.worker import supervisor

    queue_names = _queues(queue)
    log_dir = _job_log_dir(job_log_dir)
    ctx.obj.connection().close()  # fail fast on a bad database, migrate once, before forking
    argv = _child_argv(ctx, concurrency, grace, listen, queue_names, log_dir)
    if not daemon:
        import logging

        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(message)s")
        # The host's one LISTEN connection, relayed to the workers; opened (and SQLAlchemy
        # loaded) only after they are spawned, so it does not delay their start.
        target = ctx.obj.target()
        engines: list[Any] = []

        def open_listener() -> Any:
            if not engines:
                engines.append(db.create_engine(target))
            return store.open_listener(engines[0])

        relay = open_listener if listen else None
        raise typer.Exit(code=supervisor.supervise(argv, count, on_restart=_restarting,
                                                   open_listener=relay))
    log_path = _home(ctx) / "worker.log"
    pids = supervisor.start_daemons(argv, count, directory=_workers_dir(ctx), log_path=log_path)
    typer.echo(f"Started {count} worker(s)")
    for i, pid in enumerate(pids, 1):
        typer.echo(f"  worker {i}: PID {pid}")
    typer.echo(f"Logs: {log_path}")


@app.command()
def stop(
    ctx: typer.Context,
    timeout: float = typer.Option(None, "--timeout", min=0, max=params.MAX_SECONDS,
                                  callback=params.finite,
                                  help="Give up waiting after this many seconds."),
    grace: float = typer.Option(None, "--grace", min=0, max=params.MAX_SECONDS,
                                callback=params.finite,
                                help="After this many seconds, kill running jobs (they go "
                                     "back to pending)."),
    host: str = typer.Option(None, "--host", metavar="NAME",
                             help="Stop the workers of this host instead of this one."),
    all_hosts: bool = typer.Option(False, "--all-hosts", help="Stop every worker of the fleet."),
) -> None:
    """Stop workers gracefully; running jobs finish first.

    Every worker of this host, daemon or foreground, or of --host NAME, or of the whole fleet
    (--all-hosts); the request travels through the database. Jobs still running when --grace
    runs out are killed and go back to pending. Exits 1 when --host names a host without
    registered workers, or when registered workers have not heartbeated lately (they are asked
    to stop too, and stop at their next heartbeat if they still run).

    Example: queuectl worker stop --all-hosts --grace 30
    """
    from queuectl import store
    from queuectl.worker import supervisor

    if host is not None and all_hosts:
        raise typer.BadParameter("give --host NAME or --all-hosts, not both")
    if host is not None and not host.strip():
        raise typer.BadParameter("must name a host (or use --all-hosts)", param_hint="'--host'")
    target = None if all_hosts else (host or socket.gethostname())
    try:
        engine = ctx.obj.engine()
        workers = store.request_worker_stop(engine, host=target, grace=grace)
        silent = store.request_silent_worker_stop(engine, host=target, grace=grace,
                                                  skip=[w.id for w in workers])
    except errors.DatabaseUnavailable as exc:
        if target != socket.gethostname():
            raise
        typer.echo(f"warning: {exc}; stopping this host's daemon workers by signal", err=True)
        _stop_daemons_by_signal(ctx, timeout, grace)
        return
    supervisor.running_daemons(_workers_dir(ctx))  # drops stale pid files; signals nothing
    where = "the fleet" if target is None else f"host {target}"
    known = bool(workers or silent)
    # A registration of this host whose process is gone died without deregistering.
    silent = [w for w in silent if w.host != socket.gethostname() or supervisor.alive(w.pid)]
    if not workers and not silent:
        if host is not None and not known:
            raise errors.QueuectlError(
                f"no worker is registered on host {host!r} (`queuectl status` lists the live "
                "workers and their hosts)")
        typer.echo(f"No workers are running on {where}", err=True)
        return
    if workers:
        _stop_live(ctx, engine, workers, where, timeout)
    if silent:
        # Never "stopped" while one of them may still run: the next heartbeat tells.
        pids = ", ".join(str(w.pid) for w in silent)
        longest = max(w.silent_for for w in silent)
        raise errors.QueuectlError(
            f"{len(silent)} {'more ' if workers else ''}registered worker(s) on {where} "
            f"(PID {pids}) have not heartbeated for up to {longest:.0f}s: asked them to stop "
            "at their next heartbeat; they may also have died without deregistering")


def _stop_live(ctx: typer.Context, engine: Any, workers: list[Any], where: str,
               timeout: float | None) -> None:
    """Wait for the live workers asked to stop, and say how each ended."""
    from queuectl.cli import follow
    from queuectl.worker import supervisor

    typer.echo(f"Stopping {len(workers)} worker(s) on {where}: waiting for running jobs to "
               "finish")
    left = follow.wait_workers_gone(engine, ids=[w.id for w in workers], timeout=timeout)
    directory = _workers_dir(ctx)
    for w in workers:
        if w.id in left:
            continue
        how = "stopped"
        if w.host == socket.gethostname() and supervisor.wait_exit_report(directory, w.pid):
            how = supervisor.how_it_ended(directory, w.pid)  # a daemon of this data directory
        typer.echo(f"  worker PID {w.pid} on {w.host}: {how}")
    if left:
        raise errors.QueuectlError(f"{len(left)} worker(s) still running after {timeout:g}s")


def _stop_daemons_by_signal(ctx: typer.Context, timeout: float | None,
                            grace: float | None) -> None:
    from queuectl.worker import supervisor

    directory = _workers_dir(ctx)
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
    relay_fd: int = typer.Option(None, "--relay-fd"),
    queue: str = typer.Option(None, "--queue"),
    job_log_dir: str = typer.Option(None, "--job-log-dir", envvar=_JOB_LOG_ENV),
) -> None:
    """Run one worker in this process (used by `worker start`)."""
    import logging

    from queuectl import worker as worker_mod
    from queuectl.core import queuespec
    from queuectl.worker import joblogs, supervisor

    names = queuespec.parse_names(queue)
    log_dir = _job_log_dir(job_log_dir)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    engine = db.create_engine(ctx.obj.target(), worker=True)
    worker = worker_mod.Worker(worker_mod.EngineStore(engine, names), concurrency=concurrency,
                               listen=listen, grace=grace, relay_fd=relay_fd,
                               job_logs=None if log_dir is None else joblogs.JobLogs(log_dir))
    if pid_dir is not None:
        pid_file = pid_dir / f"{os.getpid()}.pid"

        def ready() -> None:  # `worker start --daemon` waits for this file
            pid_file.write_text(f"{os.getpid()}\n")

        worker.on_ready = ready
    summary = worker.run()
    if pid_dir is not None:
        supervisor.write_exit_report(pid_dir, os.getpid(), summary)
    engine.dispose()
