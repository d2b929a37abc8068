"""`worker start`, `worker stop` (and the internal `worker run`).

`worker start` runs N worker processes (`worker run` each) in their own process groups, so a
Ctrl-C reaches them exactly once, through this supervisor. With `--daemon` they are detached,
log to `<data dir>/worker.log`, and leave a pid file in `<data dir>/workers/` that
`worker stop` uses; each writes how it ended into `<pid>.exit`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from queuectl import db, settings
from queuectl import worker as worker_mod

__all__ = ["app"]

app = typer.Typer(help="Run and stop worker processes.", no_args_is_help=True)

_READY_TIMEOUT = 15.0
_RESTART_PAUSE = 5.0  # a worker that dies sooner than this after starting waits this long


def _workers_dir() -> Path:
    path = settings.data_dir() / "workers"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


@app.command()
def start(
    ctx: typer.Context,
    count: int = typer.Option(1, "--count", "-c", min=1, max=256,
                              help="Number of worker processes."),
    concurrency: int = typer.Option(1, "--concurrency", "-j", min=1, max=256,
                                    help="Jobs each worker process runs at once."),
    daemon: bool = typer.Option(False, "--daemon", "-d", help="Detach and log to a file."),
    grace: float = typer.Option(None, "--grace", min=0,
                                help="On stop, kill jobs still running after this many seconds "
                                     "and put them back to pending."),
    listen: bool = typer.Option(True, "--listen/--no-listen",
                                help="Use LISTEN/NOTIFY wake-ups (off behind a transaction "
                                     "pooler)."),
) -> None:
    """Start worker processes (foreground by default; Ctrl-C stops them gracefully)."""
    ctx.obj.engine()  # fail fast on a bad database, and migrate once, before forking
    argv = _child_argv(ctx, concurrency, grace, listen)
    if daemon:
        _start_daemons(argv, count)
    else:
        raise typer.Exit(code=_supervise(argv, count))


def _supervise(argv: list[str], count: int) -> int:
    """Run `count` workers; restart one that dies unexpectedly (after a pause if it keeps
    dying); on SIGINT/SIGTERM pass one SIGTERM to each and wait for them."""
    procs = {slot: subprocess.Popen(argv, start_new_session=True) for slot in range(count)}
    started = {slot: time.monotonic() for slot in procs}
    restart_at: dict[int, float] = {}
    stopping: list[int] = []
    codes: list[int] = []

    def forward(signum: int, _frame) -> None:
        stopping.append(signum)
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while procs or (restart_at and not stopping):
        for slot, proc in list(procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del procs[slot]
            if stopping:
                codes.append(code)
                continue
            quick = time.monotonic() - started[slot] < _RESTART_PAUSE
            pause = f" in {_RESTART_PAUSE:g}s" if quick else ""
            typer.echo(f"worker PID {proc.pid} exited unexpectedly ({_exit_text(code)}); "
                       f"restarting it{pause}", err=True)
            restart_at[slot] = time.monotonic() + (_RESTART_PAUSE if quick else 0)
        for slot, when in list(restart_at.items()):
            if stopping:
                restart_at.clear()
            elif time.monotonic() >= when:
                del restart_at[slot]
                procs[slot] = subprocess.Popen(argv, start_new_session=True)
                started[slot] = time.monotonic()
        time.sleep(0.1)
    bad = [c for c in codes if c not in (0, -signal.SIGTERM)]
    return bad[0] if bad and bad[0] > 0 else (1 if bad else 0)


def _exit_text(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _start_daemons(argv: list[str], count: int) -> None:
    directory = _workers_dir()
    log_path = settings.data_dir() / "worker.log"
    pids = []
    with open(log_path, "ab") as log:
        for _ in range(count):
            proc = subprocess.Popen(
                [*argv, "--pid-dir", str(directory)], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True,
            )
            pids.append(proc)
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if all((directory / f"{p.pid}.pid").exists() or p.poll() is not None for p in pids):
            break
        time.sleep(0.05)
    failed = [p for p in pids if p.poll() is not None or not (directory / f"{p.pid}.pid").exists()]
    if failed:
        for p in pids:
            if p.poll() is None:
                p.terminate()
        raise _fail(f"{len(failed)} of {count} worker(s) failed to start; see {log_path}")
    typer.echo(f"Started {count} worker(s)")
    for i, p in enumerate(pids, 1):
        typer.echo(f"  worker {i}: PID {p.pid}")
    typer.echo(f"Logs: {log_path}")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False


@app.command()
def stop(
    timeout: float = typer.Option(None, "--timeout", min=0,
                                  help="Give up waiting after this many seconds."),
    grace: float = typer.Option(None, "--grace", min=0,
                                help="After this many seconds, kill running jobs (they go "
                                     "back to pending)."),
) -> None:
    """Stop daemon workers gracefully: running jobs finish first."""
    directory = _workers_dir()
    pids = []
    for path in sorted(directory.glob("*.pid")):
        pid = int(path.stem)
        if _alive(pid):
            pids.append(pid)
        else:
            path.unlink(missing_ok=True)
    if not pids:
        typer.echo("No daemon workers are running", err=True)
        return
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    typer.echo(f"Stopping {len(pids)} worker(s): waiting for running jobs to finish")
    start = time.monotonic()
    hard_sent = False
    while any(_alive(p) for p in pids):
        waited = time.monotonic() - start
        if grace is not None and not hard_sent and waited >= grace:
            for pid in pids:
                if _alive(pid):
                    os.kill(pid, signal.SIGTERM)
            hard_sent = True
        if timeout is not None and waited >= timeout:
            left = [str(p) for p in pids if _alive(p)]
            raise _fail(f"worker(s) {', '.join(left)} still running after {timeout:g}s")
        time.sleep(0.05)
    for pid in pids:
        typer.echo(f"  worker PID {pid}: {_how_it_ended(directory, pid)}")


def _how_it_ended(directory: Path, pid: int) -> str:
    exit_file = directory / f"{pid}.exit"
    try:
        info = json.loads(exit_file.read_text())
    except (OSError, ValueError):
        return "exited (no report; it may have been killed)"
    exit_file.unlink(missing_ok=True)
    parts = [f"{info['completed']} completed", f"{info['failed']} failed"]
    if info.get("requeued"):
        parts.append(f"{info['requeued']} put back to pending")
    how = "killed running jobs" if info.get("hard_stop") else "stopped gracefully"
    return f"{how} ({', '.join(parts)})"


@app.command(hidden=True)
def run(
    ctx: typer.Context,
    concurrency: int = typer.Option(1, "--concurrency", min=1),
    grace: float = typer.Option(None, "--grace", min=0),
    listen: bool = typer.Option(True, "--listen/--no-listen"),
    pid_dir: Path = typer.Option(None, "--pid-dir"),
) -> None:
    """Run one worker in this process (used by `worker start`)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    target = ctx.obj.target()
    engine = db.create_engine(target, worker=True)
    worker = worker_mod.Worker(engine, concurrency=concurrency, listen=listen, grace=grace)
    pid_file = pid_dir / f"{os.getpid()}.pid" if pid_dir else None

    def ready() -> None:
        if pid_file:
            pid_file.write_text(f"{os.getpid()}\n")

    worker.on_ready = ready
    summary = worker.run()
    if pid_dir and pid_file:
        (pid_dir / f"{os.getpid()}.exit").write_text(json.dumps({
            "completed": summary.completed, "failed": summary.failed,
            "requeued": summary.requeued, "stale": summary.stale,
            "hard_stop": summary.hard_stop,
        }))
        pid_file.unlink(missing_ok=True)
    engine.dispose()
