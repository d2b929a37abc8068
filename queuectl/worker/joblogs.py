"""Per-job log files (`worker start --job-log-dir DIR`): each run's output is also appended to
`DIR/<name>.log`, after a header line (job, attempt, host, start time) and before a footer line
(how the run ended). The output is copied from the runner's output file while the command runs
(at every check of the runner, at most a second apart) and once more when it has ended, so
`tail -f` follows a running job.

The name: the job id with every byte outside `A-Z a-z 0-9 _ - .` (and a leading `.`)
percent-encoded as UTF-8, plus `.log`; so `/`, `..`, spaces, quotes or `$(...)` never leave
DIR, and two ids never share a file. A name that would pass NAME_MAX (255 bytes, counting the
rotation suffix) is cut and ends with `~` and a hash of the whole id (`~` is always encoded
otherwise, so a shortened name cannot be another id's).

The cap: a file never grows past `max_bytes` (10 MiB): a write that would pass it first moves
the file to `<name>.log.1` (replacing the older one) and starts a new one with a `continued`
line; of output arriving faster than that, only the last `max_bytes` are kept, with a line
saying how many bytes were left out.

A log file's I/O errors never fail or delay the job: the run's first one is logged as one
warning, and that run writes nothing more to its file.

Threading: each slot thread writes its own run's file (`RunLog`); `JobLogs` holds only the
directory and is shared read-only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

__all__ = ["MAX_BYTES", "JobLogs", "RunLog", "file_name"]

log = logging.getLogger("queuectl.worker")

MAX_BYTES = 10 * 1024 * 1024
_NAME_MAX = 255
_ROTATED = ".1"
_SUFFIX = ".log"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
_HASH_CHARS = 32
_READ = 1024 * 1024
# O_NOFOLLOW: a symlink planted at the log's name is refused, never written through.
_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def file_name(job_id: str) -> str:
    """The log file name of `job_id` inside the log directory: one path component, never
    `.` or `..` or hidden, at most 255 bytes with the `.1` of its rotated file."""
    raw = job_id.encode("utf-8", "surrogateescape")
    stem = "".join(chr(b) if b in _SAFE and not (i == 0 and b == ord(".")) else f"%{b:02X}"
                   for i, b in enumerate(raw))
    room = _NAME_MAX - len(_SUFFIX) - len(_ROTATED)
    if not stem or len(stem) > room:
        digest = hashlib.sha256(raw).hexdigest()[:_HASH_CHARS]
        stem = stem[: room - _HASH_CHARS - 1] + "~" + digest
    return stem + _SUFFIX


@dataclass(frozen=True)
class JobLogs:
    """The log directory of this worker (an absolute path that exists)."""

    directory: Path
    max_bytes: int = MAX_BYTES
    host: str = socket.gethostname()

    def path_for(self, job_id: str) -> Path:
        """Where the log of `job_id` is."""
        return self.directory / file_name(job_id)

    def start(self, job_id: str, *, attempt: int, attempts: int) -> RunLog:
        """A run's log, its header written (`attempt` of at most `attempts`)."""
        run = RunLog(self.path_for(job_id), job_id, self.max_bytes)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        run.line(f"=== job {json.dumps(job_id, ensure_ascii=False)} attempt {attempt} of "
                 f"{attempts} on host {self.host}, started {started} ===")
        return run


class RunLog:
    """One run's writes to its job's log file; a slot thread's own."""

    def __init__(self, path: Path, job_id: str, max_bytes: int) -> None:
        self.path = path
        self.job_id = job_id
        self.max_bytes = max_bytes
        self._fd: int | None = None
        self._size = 0
        self._copied = 0  # bytes of the runner's output file handled so far
        self._last = b"\n"  # the last byte written
        self._broken = False

    def feed(self, out: IO[bytes]) -> None:
        """Append what the command wrote to `out` since the last call (the runner calls this
        while the command runs and once after it ended)."""
        if self._broken:
            return
        try:
            size = os.fstat(out.fileno()).st_size
            if size - self._copied > self.max_bytes:
                skipped = size - self.max_bytes - self._copied
                self.line(f"[{skipped} bytes of output left out]")
                self._copied += skipped
            chunk = max(1, min(_READ, self.max_bytes // 4))
            while self._copied < size and not self._broken:
                data = os.pread(out.fileno(), min(chunk, size - self._copied), self._copied)
                if not data:
                    break
                self._copied += len(data)
                self._write(data)
        except (OSError, ValueError) as exc:
            self._fail(exc)

    def finish(self, how: str) -> None:
        """Write the footer line (`how` the run ended) and close the file."""
        if self._last != b"\n":  # output that did not end its last line
            self._write(b"\n")
        self.line(f"=== {how} ===")
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError as exc:
                self._fail(exc)

    def line(self, text: str) -> None:
        """Append one line of the log's own (a header, footer or note)."""
        self._write(text.replace("\n", " ").encode("utf-8", "replace") + b"\n")

    def _write(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            if self._fd is None:
                self._open()
            elif self._size and self._size + len(data) > self.max_bytes:
                self._rotate(continued=True)
            assert self._fd is not None
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            self._size += len(data)
            self._last = data[-1:]
        except OSError as exc:
            self._fail(exc)

    def _open(self) -> None:
        self._fd = os.open(self.path, _FLAGS, 0o600)
        self._size = os.fstat(self._fd).st_size
        if self._size >= self.max_bytes:
            self._rotate(continued=False)

    def _rotate(self, *, continued: bool) -> None:
        """Move the file to `<name>.1` and go on in a new one (`continued`: in mid-run)."""
        self.close()
        os.replace(self.path, self.path.with_name(self.path.name + _ROTATED))
        self._fd = os.open(self.path, _FLAGS, 0o600)
        self._size = 0
        if continued:
            note = (f"=== job {json.dumps(self.job_id, ensure_ascii=False)} continued (the "
                    f"earlier part is in {self.path.name}{_ROTATED}) ===\n").encode()
            self._size += os.write(self._fd, note)

    def _fail(self, exc: BaseException) -> None:
        if not self._broken:
            self._broken = True
            log.warning("job %s: cannot write its log file %s (%s); the job goes on without "
                        "it", self.job_id, self.path, exc)
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                pass
