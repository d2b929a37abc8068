"""Worker processes as the operating system sees them: a foreground supervisor that restarts
workers dying unexpectedly, detached (daemon) workers with pid files, and stopping them.

The CLI (`queuectl.cli.workers`) parses options and prints; this module owns the processes.
Daemon workers leave `<pid>.pid` in the workers directory once they are registered and claiming,
and `<pid>.exit` (how they ended) when they exit.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from queuectl import errors
from queuectl.db import reconnect

if TYPE_CHECKING:
    from queuectl import store
    from queuectl.worker import Summary

__all__ = ["alive", "how_it_ended", "is_daemon_worker", "running_daemons", "start_daemons",
           "stop_daemons", "supervise", "wait_exit_report", "write_exit_report"]

log = logging.getLogger("queuectl.worker.supervisor")

_READY_TIMEOUT = 15.0
_RESTART_PAUSE = 5.0  # a worker that dies sooner than this after starting waits this long


class _Relay:
    """The host's one LISTEN connection, relaying each notification's payload as a line to
    every worker's pipe (`worker run --relay-fd`), so N workers cost one wake-up connection.
    Reconnects through the shared backoff policy; while it is away workers poll."""

    def __init__(self, open_listener: Callable[[], store.Listener]) -> None:
        self._open = open_listener
        self._gate = reconnect.Gate(name="wake-up relay", log=log)
        self._listener: store.Listener | None = None
        self.pipes: dict[int, int] = {}  # slot -> write end

    def pipe_for(self, slot: int) -> int:
        """A fresh pipe for the worker in `slot`; returns the read end for the child."""
        self.drop(slot)
        read, write = os.pipe()
        os.set_blocking(write, False)
        self.pipes[slot] = write
        return read

    def drop(self, slot: int) -> None:
        """Close the pipe of a worker that exited."""
        if slot in self.pipes:
            os.close(self.pipes.pop(slot))

    def wait(self, timeout: float) -> None:
        """Wait up to `timeout` for notifications and pass them on."""
        if self._listener is None:
            try:
                self._listener = self._gate.call(self._open)
            except (reconnect.Offline, errors.DatabaseError):
                time.sleep(timeout)
                return
        try:
            ready, _, _ = select.select([self._listener], [], [], timeout)
            payloads = self._gate.call(self._listener.payloads) if ready else []
        except InterruptedError:
            return
        except (reconnect.Offline, errors.DatabaseError):
            self._listener.close()
            self._listener = None
            return
        data = b"".join(p.encode() + b"\n" for p in payloads)
        for write in self.pipes.values():
            try:
                os.write(write, data)
            except (BlockingIOError, BrokenPipeError):
                pass  # a full pipe: that worker is awake anyway; a closed one is exiting

    def close(self) -> None:
        """Close the connection and every pipe."""
        for slot in list(self.pipes):
            self.drop(slot)
        if self._listener is not None:
            self._listener.close()


def supervise(argv: list[str], count: int,
              on_restart: Callable[[int, str, float], None] = lambda pid, why, pause: None,
              open_listener: Callable[[], store.Listener] | None = None) -> int:
    """Run `count` workers (`argv` each, in sessions of their own so a terminal's Ctrl-C
    reaches them once, through us); restart one that dies unexpectedly, after a pause if it
    keeps dying (one that exits 0 was asked to stop and is not restarted); on SIGINT/SIGTERM
    pass one SIGTERM to each and wait. With `open_listener`, hold the host's one LISTEN
    connection and relay wake-ups to the workers. Returns an exit code."""
    relay = _Relay(open_listener) if open_listener is not None else None

    def spawn(slot: int) -> subprocess.Popen[bytes]:
        if relay is None:
            return subprocess.Popen(argv, start_new_session=True)
        read = relay.pipe_for(slot)
        try:
            return subprocess.Popen([*argv, "--relay-fd", str(read)], start_new_session=True,
                                    pass_fds=(read,))
        finally:
            os.close(read)

    procs = {slot: spawn(slot) for slot in range(count)}
    started = {slot: time.monotonic() for slot in procs}
    restart_at: dict[int, float] = {}
    stopping: list[int] = []
    codes: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    while procs or (restart_at and not stopping):  # until every worker has exited
        for slot, proc in list(procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del procs[slot]
            if relay is not None:
                relay.drop(slot)
            if stopping:
                codes.append(code)
                continue
            if code == 0:  # it was asked to stop (`worker stop` through the database)
                log.info("worker PID %s stopped on request; not restarting it", proc.pid)
                codes.append(code)
                continue
            pause = _RESTART_PAUSE if time.monotonic() - started[slot] < _RESTART_PAUSE else 0.0
            on_restart(proc.pid, _exit_text(code), pause)
            restart_at[slot] = time.monotonic() + pause
        for slot, when in list(restart_at.items()):
            if stopping:
                restart_at.clear()
            elif time.monotonic() >= when:
                del restart_at[slot]
                procs[slot] = spawn(slot)
                started[slot] = time.monotonic()
        if relay is not None and not stopping:
            relay.wait(0.1)
        else:
            time.sleep(0.1)
    if relay is not None:
        relay.close()
    bad = [c for c in codes if c not in (0, -signal.SIGTERM)]
    return bad[0] if bad and bad[0] > 0 else (1 if bad else 0)


def _exit_text(code: int) -> str:
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def start_daemons(argv: list[str], count: int, *, directory: Path, log_path: Path) -> list[int]:
    """Start `count` detached workers logging to `log_path`; wait until each is registered
    (its pid file appears). Returns their pids; if any fails, stops the others and raises."""
    directory = directory.absolute()  # the worker's command line names it; see is_daemon_worker
    procs = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.exit"):
            if _pid_of(old) is not None and not alive(int(old.stem)):
                old.unlink(missing_ok=True)
        with open(log_path, "ab") as log:
            for _ in range(count):
                procs.append(subprocess.Popen(
                    [*argv, "--pid-dir", str(directory)], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, start_new_session=True,
                ))
    except OSError as exc:  # QUEUECTL_HOME is a file, read-only, ...
        raise errors.QueuectlError(
            f"cannot use the data directory {directory.parent} (QUEUECTL_HOME): "
            f"{exc.strerror or exc}") from None

    def ready(p: subprocess.Popen[bytes]) -> bool:
        return (directory / f"{p.pid}.pid").exists()

    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline and not all(ready(p) or p.poll() is not None
                                                   for p in procs):
        time.sleep(0.05)
    failed = [p for p in procs if p.poll() is not None or not ready(p)]
    if failed:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        raise errors.QueuectlError(
            f"{len(failed)} of {count} worker(s) failed to start; see {log_path}")
    return [p.pid for p in procs]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] not in ("Z", "X")
    except OSError:
        return False


def _pid_of(path: Path) -> int | None:
    """The pid a `<pid>.pid` file names, or None for any other file (`backup copy.pid`,
    `-1.pid`, `007.pid`): never signal a pid we did not write."""
    stem = path.stem
    if not stem.isascii() or not stem.isdigit() or stem != str(int(stem)) or int(stem) < 2:
        return None
    return int(stem)


def is_daemon_worker(pid: int, directory: Path) -> bool:
    """True when `pid` is a queuectl daemon worker whose pid directory is `directory`, as
    its command line says (`... queuectl ... worker run ... --pid-dir DIR`): a pid file left
    behind by a crash may name a pid the system has since given to another process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    args = [os.fsdecode(a) for a in argv]
    is_run = any(args[i:i + 2] == ["worker", "run"] for i in range(len(args)))
    if "queuectl" not in args or not is_run or "--pid-dir" not in args[:-1]:
        return False
    pid_dir = cwd / args[args.index("--pid-dir") + 1]
    return os.path.realpath(pid_dir) == os.path.realpath(directory)


def running_daemons(directory: Path) -> list[int]:
    """Pids of this data directory's daemon workers still running; pid files naming a pid
    that is gone or is no longer such a worker are removed, other files left alone."""
    pids = []
    for path in sorted(directory.glob("*.pid")):
        pid = _pid_of(path)
        if pid is None:
            continue
        if alive(pid) and is_daemon_worker(pid, directory):
            pids.append(pid)
        else:
            _forget(directory, pid)
    return pids


def _forget(directory: Path, pid: int) -> None:
    for suffix in (".pid", ".stopping"):
        (directory / f"{pid}{suffix}").unlink(missing_ok=True)


def _claim_stop(directory: Path, pid: int) -> bool:
    """True for the one `worker stop` that gets to send `pid` its first SIGTERM: a second
    SIGTERM means "kill the running jobs", so concurrent stops must not each send one."""
    try:
        fd = os.open(directory / f"{pid}.stopping", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    except OSError:
        return True  # cannot coordinate (read-only directory): signal as before
    os.close(fd)
    return True


def _signal(pid: int) -> None:
    """SIGTERM `pid`; one that exited meanwhile is not an error."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise errors.QueuectlError(
            f"not allowed to signal worker PID {pid} (it belongs to another user)") from None


def stop_daemons(directory: Path, pids: list[int], *, timeout: float | None,
                 grace: float | None) -> None:
    """SIGTERM each worker (running jobs finish) unless another `worker stop` already did,
    and wait; after `grace` seconds signal again (running jobs are killed and put back);
    raise after `timeout` seconds. Safe to run several times at once."""
    for pid in pids:
        if _claim_stop(directory, pid):
            _signal(pid)
    start = time.monotonic()
    hard_sent = False
    while any(alive(p) for p in pids):
        waited = time.monotonic() - start
        if grace is not None and not hard_sent and waited >= grace:
            for pid in pids:
                if alive(pid):
                    _signal(pid)
            hard_sent = True
        if timeout is not None and waited >= timeout:
            left = ", ".join(str(p) for p in pids if alive(p))
            raise errors.QueuectlError(f"worker(s) {left} still running after {timeout:g}s")
        time.sleep(0.05)
    for pid in pids:
        _forget(directory, pid)


def write_exit_report(directory: Path, pid: int, summary: Summary) -> None:
    """Record how a daemon worker ended, for `worker stop`, and remove its pid file."""
    (directory / f"{pid}.exit").write_text(json.dumps({
        "completed": summary.completed, "failed": summary.failed,
        "requeued": summary.requeued, "stale": summary.stale,
        "hard_stop": summary.hard_stop,
    }))
    _forget(directory, pid)


def wait_exit_report(directory: Path, pid: int, timeout: float = 5.0) -> bool:
    """True once daemon worker `pid` of `directory` has exited and left its exit report;
    False at once for a worker that is not such a daemon."""
    if not (directory / f"{pid}.pid").exists() and not (directory / f"{pid}.exit").exists():
        return False
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return (directory / f"{pid}.exit").exists()


def how_it_ended(directory: Path, pid: int) -> str:
    """One line on how a stopped daemon worker ended, from its exit report."""
    exit_file = directory / f"{pid}.exit"
    try:
        info = json.loads(exit_file.read_text())
        counts = {k: int(info.get(k) or 0) for k in ("completed", "failed", "requeued")}
    except (OSError, ValueError, TypeError, AttributeError):
        return "exited (no readable report; it may have been killed)"
    # The report stays for a concurrent `worker stop` to read too; the next start clears it.
    parts = [f"{counts['completed']} completed", f"{counts['failed']} failed"]
    if counts["requeued"]:
        parts.append(f"{counts['requeued']} put back to pending")
    how = "killed running jobs" if info.get("hard_stop") else "stopped gracefully"
    return f"{how} ({', '.join(parts)})"
