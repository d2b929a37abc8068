"""Runs one shell command and turns it into an `Outcome`.

The command runs as `/bin/sh -c COMMAND` in a process group of its own, with stdin from
/dev/null and stdout+stderr captured into an unlinked temporary file (so a child that keeps the
output open cannot stall the worker, and huge output never sits in memory); the last 1 MiB is
kept. A run ends when its shell exits: whatever it left running in its process group is killed,
so no job leaves processes behind. On timeout the whole group gets SIGTERM, then SIGKILL after a
short grace.
"""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

from queuectl.core import records

__all__ = ["MAX_OUTPUT", "Outcome", "OutputSink", "Runner"]

#: Called with a run's output file at each check while the command runs and once after it
#: ended (a per-job log file copies what is new); it must not raise.
OutputSink = Callable[[IO[bytes]], None]

MAX_OUTPUT = records.MAX_OUTPUT
_SIGTERM = signal.SIGTERM  # `Runner.signal` shadows the module inside the class body
# Linux refuses a single argv string over 128 KiB; longer commands go through a script file.
_ARGV_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    """What one run did. `interrupted` means a hard shutdown killed it: put it back, don't count
    it as a failure. `cancelled` means a user cancelled it: it is final, not retried."""

    ok: bool
    exit_code: int | None
    error: str | None
    output: str
    truncated: bool
    duration: float
    interrupted: bool = False
    timed_out: bool = False
    cancelled: bool = False
    size: int = 0  # bytes the command wrote in all (output keeps the last MAX_OUTPUT)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            line = line.strip()
            return line if len(line) <= 200 else line[:197] + "..."
    return ""


def _read_tail(fileobj: IO[bytes]) -> tuple[str, bool]:
    size = os.fstat(fileobj.fileno()).st_size
    truncated = size > MAX_OUTPUT
    fileobj.seek(size - MAX_OUTPUT if truncated else 0)
    data = fileobj.read(MAX_OUTPUT)
    # PostgreSQL text cannot hold NUL; non-UTF-8 bytes become U+FFFD.
    return data.decode("utf-8", "replace").replace("\x00", "\ufffd"), truncated


def _exited(pidfd: int, timeout: float | None) -> bool:
    """Block until the process behind `pidfd` exits or `timeout` seconds pass."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            ready, _, _ = select.select([pidfd], [], [], remaining)
        except InterruptedError:
            continue
        if ready:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


# The watchdog: a tiny process per worker that learns each job's process group over a pipe
# ("+PGID"/"-PGID" lines) and SIGKILLs the live ones when the worker's end of the pipe closes,
# that is when the worker dies, even by SIGKILL. So a killed worker's jobs do not go on
# unsupervised while another worker re-runs them after the rescue. The job's shell announces
# itself ("+$$") through /proc/WATCHDOG/fd/0 before running the command, so there is no window
# in which a job runs unknown to the watchdog; if the watchdog is already gone (the worker
# died while spawning), the shell exits at once. The spawn stays on the fast (vfork) path,
# unlike a preexec_fn, and costs one builtin `echo`.
_WATCHDOG = """
import os, signal, sys
live = set()
for line in sys.stdin.buffer:
    pgid = int(line[1:])
    (live.add if line[:1] == b"+" else live.discard)(pgid)
for pgid in live:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class _Watchdog:
    """Kills the process groups of a worker's running jobs if the worker dies."""

    def __init__(self) -> None:
        read, self._write = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG], stdin=read,
                stdout=subprocess.DEVNULL, start_new_session=True, close_fds=True,
            )
        finally:
            os.close(read)
        os.set_inheritable(self._write, False)

    def guard(self, command: str) -> str:
        """`command`, prefixed (on the same line) with the shell's self-announcement."""
        return f"echo +$$ 2>/dev/null >/proc/{self._proc.pid}/fd/0 || exit 137; {command}"

    def alive(self) -> bool:
        """False if the watchdog died (it is then restarted by the runner)."""
        return self._proc.poll() is None

    def tell(self, op: str, pgid: int) -> None:
        try:
            os.write(self._write, f"{op}{pgid}\n".encode())
        except OSError:
            pass  # the watchdog is gone; jobs still run, only the crash guard is lost

    def close(self) -> None:
        try:
            os.close(self._write)
        except OSError:
            pass
        self._proc.wait()


@dataclass
class _Live:
    """A running command: its process, its output file and the state of user control."""

    proc: subprocess.Popen[bytes]
    out: IO[bytes]
    paused_since: float | None = None
    paused_total: float = 0.0
    cancel: tuple[int, float] | None = None  # (signal, grace) of a cancel request
    cancelled_at: float | None = None
    sink: OutputSink | None = None

    def paused_for(self, now: float) -> float:
        """Seconds spent paused so far (the timeout clock stops while paused)."""
        return self.paused_total + (now - self.paused_since if self.paused_since else 0.0)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Runner:
    """Runs commands; tracks the live process groups so a hard shutdown can kill them."""

    def __init__(self, *, grace: float = 2.0) -> None:
        self.grace = grace
        self._lock = threading.Lock()
        self._live: dict[object, _Live] = {}
        self._interrupted: set[object] = set()
        self._watchdog = _Watchdog()
        # The worker's environment, read once: os.environ decodes every item on each read,
        # which cost ~0.1 ms per job spawn.
        self._environ = dict(os.environ)

    def close(self) -> None:
        """Stop the watchdog (call once no command is running)."""
        self._watchdog.close()

    def run(self, command: str, *, timeout: float | None = None, key: object = None,
            cwd: str | None = None, env: Mapping[str, str] | None = None,
            sink: OutputSink | None = None) -> Outcome:
        """Run `command` to completion (or timeout) and describe what happened; `key` names
        the run for `kill`. It runs in directory `cwd` (default: the worker's), with `env`
        added to the worker's environment; a missing `cwd` is a failure (without exit code,
        so retryable) that never starts the command. `sink` sees the output file while the
        command runs (at most a second apart) and once when it has ended."""
        start = time.monotonic()
        if cwd is not None and not os.path.exists(cwd):
            return Outcome(False, None, f"working directory {cwd} does not exist on host "
                           f"{socket.gethostname()}", "", False, time.monotonic() - start)
        if not self._watchdog.alive():
            self._watchdog.close()
            self._watchdog = _Watchdog()
        command = self._watchdog.guard(command)
        script = self._script(command) if len(command) > _ARGV_LIMIT else None
        argv = ["/bin/sh", script] if script else ["/bin/sh", "-c", command]
        try:
            with tempfile.TemporaryFile(prefix="queuectl-out-") as out:
                try:
                    proc = subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                        start_new_session=True, close_fds=True, cwd=cwd,
                        env={**self._environ, **env} if env else None,
                    )
                except OSError as exc:
                    return Outcome(False, None,
                                   f"could not start the command: {exc.strerror or exc}",
                                   "", False, time.monotonic() - start)
                key = proc.pid if key is None else key
                live = _Live(proc, out, sink=sink)
                with self._lock:
                    self._live[key] = live
                try:
                    timed_out = self._wait(live, timeout)
                finally:
                    self._watchdog.tell("-", proc.pid)
                    with self._lock:
                        self._live.pop(key, None)
                        interrupted = key in self._interrupted
                        self._interrupted.discard(key)
                duration = time.monotonic() - start
                if sink is not None:
                    sink(out)
                output, truncated = _read_tail(out)
                size = os.fstat(out.fileno()).st_size
        finally:
            if script:
                os.unlink(script)
        if live.cancel is not None:  # a user's cancel wins over a hard stop's put-back
            return Outcome(False, None, f"cancelled ({_signal_name(live.cancel[0])} sent to "
                           "its process group)", output, truncated, duration, cancelled=True,
                           size=size)
        return dataclasses.replace(
            self._outcome(proc.returncode, output, truncated, duration, timeout,
                          timed_out=timed_out, interrupted=interrupted), size=size)

    @staticmethod
    def _script(command: str) -> str:
        fd, path = tempfile.mkstemp(prefix="queuectl-cmd-", suffix=".sh")
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(command)
        return path

    def _wait(self, live: _Live, timeout: float | None) -> bool:
        """Wait for the shell to exit, kill what it left in its group, reap it; True if it
        timed out. The timeout clock stops while the run is paused; a cancel request gets its
        signal, then SIGKILL after its grace. The shell stays a zombie until the group is
        killed, so its pid (the group id) cannot be reused by an unrelated process meanwhile."""
        proc = live.proc
        pidfd = os.pidfd_open(proc.pid)
        start = time.monotonic()
        try:
            timed_out = False
            while not _exited(pidfd, self._next_check(live, start, timeout)):
                if live.sink is not None:
                    live.sink(live.out)
                now = time.monotonic()
                if live.cancelled_at is not None and live.cancel is not None:
                    if now - live.cancelled_at >= live.cancel[1]:
                        _killpg(proc.pid, signal.SIGKILL)
                        _exited(pidfd, None)
                        break
                    continue
                if timeout is not None and now - start - live.paused_for(now) >= timeout:
                    timed_out = True
                    _killpg(proc.pid, signal.SIGCONT)
                    _killpg(proc.pid, signal.SIGTERM)
                    if not _exited(pidfd, self.grace):
                        _killpg(proc.pid, signal.SIGKILL)
                        _exited(pidfd, None)
                    break
            _killpg(proc.pid, signal.SIGKILL)
        finally:
            os.close(pidfd)
            proc.wait()
        return timed_out

    _CHECK = 0.25  # how often a waiting run looks at pause, cancel and its timeout

    def _next_check(self, live: _Live, start: float, timeout: float | None) -> float | None:
        """How long the next wait for the shell may block."""
        now = time.monotonic()
        if live.cancelled_at is not None or live.paused_since is not None:
            return self._CHECK
        if timeout is None:
            return self._CHECK if live.cancel is not None else 1.0
        left = timeout - (now - start - live.paused_for(now))
        return max(0.0, min(left, 1.0))

    @staticmethod
    def _outcome(code: int, output: str, truncated: bool, duration: float,
                 timeout: float | None, *, timed_out: bool, interrupted: bool) -> Outcome:
        def failed(error: str, exit_code: int | None) -> Outcome:
            return Outcome(False, exit_code, error, output, truncated, duration,
                           interrupted=interrupted, timed_out=timed_out)

        if interrupted:
            return failed("interrupted by worker shutdown; put back to pending", None)
        if timed_out:
            assert timeout is not None
            return failed(
                f"timed out after {duration:.1f}s (timeout {timeout * 1000:.0f} ms); "
                "its process group was killed", None,
            )
        if code == 0:
            return Outcome(True, 0, None, output, truncated, duration)
        if code < 0:
            return failed(f"killed by {_signal_name(-code)}", None)
        hint = " (command not found)" if code == 127 else ""
        tail = _last_line(output)
        return failed(f"exited with code {code}{hint}" + (f": {tail}" if tail else ""), code)

    def kill_all(self) -> int:
        """Kill every running command's process group (hard shutdown); returns how many."""
        with self._lock:
            procs = [live.proc for live in self._live.values()]
            self._interrupted.update(self._live)
        for proc in procs:
            _killpg(proc.pid, signal.SIGCONT)
            _killpg(proc.pid, signal.SIGKILL)
        return len(procs)

    def kill(self, key: object) -> bool:
        """Kill one run's process group (its outcome is then a failure, not an interruption)."""
        return self.signal(key, signal.SIGKILL)

    def signal(self, key: object, signum: int) -> bool:
        """Send `signum` to one run's process group; False if it is not running."""
        with self._lock:
            live = self._live.get(key)
        if live is None:
            return False
        _killpg(live.proc.pid, signum)
        return True

    def pause(self, key: object) -> bool:
        """SIGSTOP one run's process group; its timeout clock stops until `resume`."""
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return False
            if live.paused_since is None:
                live.paused_since = time.monotonic()
        _killpg(live.proc.pid, signal.SIGSTOP)
        return True

    def resume(self, key: object) -> bool:
        """SIGCONT one run's process group."""
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return False
            if live.paused_since is not None:
                live.paused_total += time.monotonic() - live.paused_since
                live.paused_since = None
        _killpg(live.proc.pid, signal.SIGCONT)
        return True

    def cancel(self, key: object, signum: int = _SIGTERM, grace: float = 2.0) -> bool:
        """Cancel one run: `signum` to its process group (resumed first if paused), SIGKILL
        after `grace` seconds; its outcome is `cancelled`."""
        with self._lock:
            live = self._live.get(key)
            if live is None:
                return False
            live.cancel = (signum, grace)
            live.cancelled_at = time.monotonic()
            live.paused_since = None
        _killpg(live.proc.pid, signal.SIGCONT)
        _killpg(live.proc.pid, signum)
        return True

    def read_output(self, key: object, offset: int, limit: int = MAX_OUTPUT) -> bytes | None:
        """Up to `limit` bytes of a running command's output from byte `offset` (None if it is
        not running). Reads with pread: the run's own file position is not moved."""
        with self._lock:
            live = self._live.get(key)
        if live is None:
            return None
        try:
            return os.pread(live.out.fileno(), limit, offset)
        except (OSError, ValueError):
            return None  # the run ended and closed its file meanwhile

    def output_size(self, key: object) -> int | None:
        """How many bytes a running command has written so far (None if not running)."""
        with self._lock:
            live = self._live.get(key)
        if live is None:
            return None
        try:
            return os.fstat(live.out.fileno()).st_size
        except (OSError, ValueError):
            return None

    def running(self) -> int:
        """How many commands are running now."""
        with self._lock:
            return len(self._live)
