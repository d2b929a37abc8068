"""Worker processes started through the real CLI (`python -m queuectl ...`), exactly as an
operator would: `worker run --concurrency C` (one process, C runner threads) or
`worker start --count N` (a supervisor with N `worker run` children).

Each process gets its own session (so a Ctrl-C at the terminal reaches only the bench, which
then stops them), a log file, and `QUEUECTL_HOME` in a temporary directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from qbench import scratch as scratch_mod

__all__ = ["WorkerError", "Workers"]


class WorkerError(RuntimeError):
    """A worker process exited early or never became ready."""


def _children(pid: int) -> list[int]:
    """Direct and indirect children of `pid`, from /proc."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *_children(kid)]
    return found


def _is_queuectl(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"queuectl" in f.read()
    except OSError:
        return False


class Workers:
    """The worker processes of one measurement; use as a context manager so they are always
    stopped (SIGTERM, then SIGKILL after `stop_timeout`)."""

    def __init__(self, scratch: scratch_mod.Scratch, *, log_dir: Path, label: str,
                 stop_timeout: float = 20.0) -> None:
        self.scratch = scratch
        self.log_dir = log_dir
        self.label = label
        self.stop_timeout = stop_timeout
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}
        self.expected = 0
        self.env = {**os.environ, "QUEUECTL_HOME": str(log_dir / "home")}

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        log_path = self.log_dir / f"{self.label}-{len(self.procs)}.log"
        argv = [sys.executable, "-m", "queuectl", "--database-url", self.scratch.url, *args]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=self.env, start_new_session=True)
        self.procs.append(proc)
        self.logs[proc.pid] = log_path
        return proc

    def run(self, *, concurrency: int, listen: bool = True) -> None:
        """Start one `worker run --concurrency C` process."""
        args = ["worker", "run", "--concurrency", str(concurrency)]
        self._spawn(args if listen else [*args, "--no-listen"])
        self.expected += 1

    def start(self, *, count: int, concurrency: int = 1) -> None:
        """Start `worker start --count N --concurrency C` (a supervisor and N processes)."""
        self._spawn(["worker", "start", "--count", str(count), "--concurrency",
                     str(concurrency)])
        self.expected += count

    def check(self) -> None:
        """Raise if a process we started has exited."""
        for proc in self.procs:
            if proc.poll() is not None:
                log = self.logs.get(proc.pid)
                tail = log.read_text(errors="replace").splitlines()[-8:] if log else []
                raise WorkerError(f"worker process {proc.pid} exited with {proc.returncode}; "
                                  f"log {log}, last lines:\n  " + "\n  ".join(tail))

    def _wait_for(self, sql: str, params: dict, want: int, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            with self.scratch.engine.connect() as conn:
                have = conn.execute(sa.text(sql), params).scalar_one()
            if have >= want:
                return
            if time.monotonic() > deadline:
                raise WorkerError(f"only {have} of {want} workers {what} after {timeout:g}s; "
                                  f"see {self.log_dir}")
            time.sleep(0.02)

    def wait_registered(self, timeout: float = 30.0) -> None:
        """Wait until every expected worker has a row in `workers`."""
        self._wait_for("SELECT count(*) FROM workers", {}, self.expected, "registered",
                       timeout)

    def wait_listening(self, timeout: float = 30.0) -> None:
        """Wait until every expected worker holds its LISTEN connection (pg_stat_activity)."""
        self._wait_for(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
            "AND application_name = 'queuectl-listen'",
            {"db": self.scratch.name}, self.expected, "listening", timeout)

    def pids(self) -> list[int]:
        """Every live process we started and their descendants (worker processes)."""
        out: list[int] = []
        for proc in self.procs:
            if proc.poll() is None:
                out += [proc.pid, *_children(proc.pid)]
        return out

    def stop(self) -> None:
        """SIGTERM every process (the supervisor forwards it), wait; SIGKILL what is left."""
        everyone = self.pids()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for pid in everyone:
            if _is_queuectl(pid):  # still ours: not exited, pid not reused
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for proc in self.procs:
            proc.wait()
        self.procs = []
        self.expected = 0
