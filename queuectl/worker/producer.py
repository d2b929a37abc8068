"""When to claim and how many: the prefetch depth, the earliest known due time, and the
wake-ups that end an idle wait (slot threads finishing a run, NOTIFYs on the jobs channel
through the worker's own LISTEN connection or the host's relay, and the poll interval as the
safety net).

An idle worker's polls back off: the first idle wait after work is poll_interval/8, each next
one doubles, up to poll_interval, each drawn uniformly from the upper half of its step (jitter,
so a fleet woken together does not poll in lockstep, and never longer than poll_interval, which
promises a check at least that often). Claiming jobs resets it.

Threading: `Waker.wake` may be called from any thread; everything else is main-thread only.
"""

from __future__ import annotations

import logging
import os
import random
import select
import time
from collections.abc import Callable

from queuectl import errors
from queuectl.db.reconnect import Backoff, Gate, Offline
from queuectl.worker.ports import ListenerLike, Store

__all__ = ["Producer", "Waker"]

log = logging.getLogger("queuectl.worker")

# Prefetch (hold PREFETCH_DEPTH claimed jobs per slot) only while runs are this short on average.
PREFETCH_BELOW = 0.05
PREFETCH_DEPTH = 4
# The first idle wait after work is poll_interval * IDLE_FIRST_FRACTION (then 2x, 4x, ... cap).
IDLE_FIRST_FRACTION = 1 / 8


class Waker:
    """A self-pipe: any thread's `wake()` ends the main thread's current wait."""

    def __init__(self) -> None:
        self.fd, self._w = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._w, False)

    def wake(self) -> None:
        """End the current (or next) wait."""
        try:
            os.write(self._w, b"x")
        except BlockingIOError:
            pass  # the pipe is full: the main thread is awake anyway

    def drain(self) -> None:
        """Consume pending wake-ups."""
        try:
            while os.read(self.fd, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close both ends."""
        os.close(self.fd)
        os.close(self._w)


class Producer:
    """Decides how many jobs to claim and waits for a reason to claim again."""

    def __init__(self, db: Store, gate: Gate, waker: Waker, *, concurrency: int,
                 listen: bool = True, relay_fd: int | None = None,
                 rand: Callable[[], float] = random.random) -> None:
        self._db = db
        self._gate = gate
        self._waker = waker
        self.concurrency = concurrency
        self._listen = listen and relay_fd is None
        self._relay_fd = relay_fd
        if relay_fd is not None:
            os.set_blocking(relay_fd, False)
        self._relay_buf = b""
        self._listener: ListenerLike | None = None
        self.avg_run: float | None = None
        self.next_due: float | None = None  # epoch seconds of the earliest known retry
        # "control", "stop", "cron": NOTIFYs that ask for a call now
        self._flags: set[str] = set()
        self._idle = Backoff(first=IDLE_FIRST_FRACTION, cap=1.0, rand=rand, floor=0.5)

    def capacity(self) -> int:
        """How many jobs to hold claimed: one per slot, and while recent runs are short (under
        `PREFETCH_BELOW` on average) `PREFETCH_DEPTH` per slot, so a slot whose job ends starts
        the next at once while the round trip that records results and refills the buffer
        overlaps several runs: with one extra per slot, slots sat idle for 43% of a drain
        waiting for that round trip (py-spy), and 4 per slot drained 1.7x faster than 2
        (bench, 4 slots, interleaved). Not more: a worker killed with SIGKILL loses its
        buffered jobs too, and their rescue counts an attempt like a running job's."""
        if self.avg_run is not None and self.avg_run < PREFETCH_BELOW:
            return PREFETCH_DEPTH * self.concurrency
        return self.concurrency

    def want(self, held: int) -> int:
        """How many to claim now, holding `held` (it can exceed the capacity when runs get
        longer: then none)."""
        return max(0, self.capacity() - held)

    def observe(self, duration: float) -> None:
        """A run took `duration` seconds (moving average for the prefetch decision)."""
        self.avg_run = duration if self.avg_run is None else 0.8 * self.avg_run + 0.2 * duration

    def note_due(self, due: float) -> None:
        """A job becomes due at epoch `due`: be awake then."""
        if due > time.time():
            self.next_due = due if self.next_due is None else min(self.next_due, due)

    def claimed(self) -> None:
        """A claim returned jobs: a due time that has passed was served, and idle polling
        starts again from its shortest wait."""
        self._idle.reset()
        if self.next_due is not None and self.next_due <= time.time():
            self.next_due = None

    def idle_timeout(self, poll_interval: float) -> float:
        """How long an idle worker (free slots, nothing claimed last time) may wait: the next
        step of the idle backoff (each call is one more idle wait), at most `poll_interval`,
        and no later than the earliest known due time."""
        timeout = poll_interval * self._idle.next_delay()
        if self.next_due is not None and self.next_due <= time.time():
            # The claim that just ran served it (another worker may have won the job): do
            # not spin on a due time that has passed.
            self.next_due = None
        if self.next_due is not None:
            timeout = min(timeout, max(0.0, self.next_due - time.time()))
        return timeout

    def wait(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for a wake-up of any kind."""
        fds = [self._waker.fd]
        source = self._source_fd()
        if source is not None:
            fds.append(source)
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            return
        if self._waker.fd in ready:
            self._waker.drain()
        if source is not None and source in ready:
            self._read_source()

    def close(self) -> None:
        """Close the LISTEN connection, if any."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    # --- wake-up sources ------------------------------------------------------------------

    def _source_fd(self) -> int | None:
        if self._relay_fd is not None:
            return self._relay_fd
        if not self._listen:
            return None
        if self._listener is None:
            try:
                self._listener = self._gate.call(self._db.open_listener)
            except (Offline, errors.DatabaseError):
                return None  # polling meanwhile
        return self._listener.fileno()

    def _read_source(self) -> None:
        if self._relay_fd is not None:
            self._read_relay()
            return
        assert self._listener is not None
        try:
            payloads = self._gate.call(self._listener.payloads)
        except (Offline, errors.DatabaseError):
            self.close()
            return
        for payload in payloads:
            self._on_payload(payload)

    def _read_relay(self) -> None:
        assert self._relay_fd is not None
        try:
            data = os.read(self._relay_fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            log.warning("worker %s: the host's wake-up relay is gone; polling every "
                        "poll_interval from now on", os.getpid())
            os.close(self._relay_fd)
            self._relay_fd = None
            return
        *lines, self._relay_buf = (self._relay_buf + data).split(b"\n")
        for line in lines:
            self._on_payload(line.decode("utf-8", "replace"))

    def take(self, flag: str) -> bool:
        """True (once) if a NOTIFY asked for `flag` ("control": take control requests now;
        "stop": heartbeat now, a stop request may wait; "cron": a schedule was added or
        changed, so the leader re-reads them)."""
        if flag in self._flags:
            self._flags.discard(flag)
            return True
        return False

    def _on_payload(self, payload: str) -> None:
        """An empty payload means "something is due now"; a number is an epoch due time;
        "control", "stop" and "cron" set flags for the loop. Anything else is for a newer
        version and is ignored."""
        if not payload:
            return
        if payload in ("control", "stop", "cron"):
            self._flags.add(payload)
            return
        try:
            due = float(payload)
        except ValueError:
            return
        self.note_due(due)
