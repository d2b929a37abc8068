"""Live output: while a run lasts longer than a moment, its new output is read from the
runner's output file and stored as chunks (`store.append_output`) at least every second and
whenever 64 KiB have piled up, so `queuectl logs -f` follows it from any host. When a
streamed run ends, the rest of its output is stored before its result. The store keeps the
last `MAX_OUTPUT` (1 MiB) per job, so when more than that is unread, only its last 1 MiB is
read: a job printing 100 MB costs the worker a bounded read, not 100 MB of memory.

Threading: main thread only (the runner's reads are thread-safe).
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from queuectl.db.reconnect import Gate
from queuectl.worker.executor import RunnerLike
from queuectl.worker.outcomes import Decision
from queuectl.worker.ports import Store
from queuectl.worker.runner import MAX_OUTPUT

__all__ = ["FLUSH_BYTES", "FLUSH_EVERY", "Streams"]

FLUSH_EVERY = 1.0
FLUSH_BYTES = 64 * 1024
_CHECK_EVERY = 0.25


@dataclass
class _Stream:
    job_id: str
    offset: int = 0
    flushed_at: float = 0.0
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))


def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL


class Streams:
    """Per running run: how much of its output is stored; chunks waiting to be written."""

    def __init__(self, db: Store, gate: Gate, runner: RunnerLike,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._gate = gate
        self._runner = runner
        self._clock = clock
        self._streams: dict[int, _Stream] = {}
        self._pending: list[tuple[str, int, str]] = []
        self._checked = 0.0

    def poll(self, running: list[tuple[int, str, float]]) -> None:
        """Read new output of `running` runs (run_id, job_id, seconds running) that have run
        for a second or more, when a flush is due."""
        now = self._clock()
        if now - self._checked < _CHECK_EVERY:
            return
        self._checked = now
        for run_id, job_id, ran in running:
            if ran < FLUSH_EVERY:
                continue
            s = self._streams.setdefault(run_id, _Stream(job_id, flushed_at=now - FLUSH_EVERY))
            size = self._runner.output_size(run_id)
            if size is None or size <= s.offset:
                continue
            if size - s.offset < FLUSH_BYTES and now - s.flushed_at < FLUSH_EVERY:
                continue
            if size - s.offset > MAX_OUTPUT:  # the store would trim all but the last MiB
                s.offset = size - MAX_OUTPUT
                s.decoder.reset()
            data = self._runner.read_output(run_id, s.offset, size - s.offset)
            if data:
                s.offset += len(data)
                s.flushed_at = now
                self._add(job_id, run_id, _clean(s.decoder.decode(data)))

    def finished(self, decision: Decision) -> None:
        """A run ended: if it was streamed, queue the rest of its output (before its result
        is written)."""
        s = self._streams.pop(decision.run_id, None)
        if s is None or decision.result is None or not decision.result.output:
            return
        rest = decision.size - s.offset
        if rest <= 0:
            return
        tail = decision.result.output.encode("utf-8", "surrogatepass")[-rest:]
        self._add(s.job_id, decision.run_id, s.decoder.decode(tail, final=True))

    def _add(self, job_id: str, run_id: int, text: str) -> None:
        for start in range(0, len(text), FLUSH_BYTES):
            self._pending.append((job_id, run_id, text[start:start + FLUSH_BYTES]))

    def flush(self) -> None:
        """Write the queued chunks (raises `Offline` and keeps them while the database is
        away)."""
        if not self._pending:
            return
        chunks = self._pending
        # Refused: dropped, as the run's full output is written with its result.
        self._gate.attempt("storing live output", lambda: self._db.append_output(chunks=chunks))
        self._pending = []

    def wait_hint(self, running_long: bool) -> float | None:
        """How soon the loop must look again (None: no run is being streamed)."""
        return _CHECK_EVERY if running_long or self._pending else None
