"""One reconnect policy for every path that talks to the database while the server may be
away: claiming, completing, heartbeats, config refresh, LISTEN, upkeep, the per-host wake-up
relay and the dashboard.

`Backoff` is the pure schedule: exponential backoff with full jitter (AWS's "full jitter":
each delay is uniform in [0, min(cap, first * 2**n)]), reset by the first success. `Gate`
puts every call of one process behind it: while the database is away, calls are refused
without touching the network until the next attempt is due, so one process makes at most a
handful of connection attempts in any 10 s however many paths want the database; it logs one
line when the database goes away, one when the reason changes (a server that was restarting
is now read-only), at most one reminder a minute, and one line when it is back.

A server that is read-only or in recovery is an outage like a refused connection (`db` drops
such a connection and passes such servers over): a worker pointed at a replica backs off,
and no read the replica answered resets the backoff.

Only a lost or refused connection is an outage (`errors.DatabaseUnavailable`). A statement the
server answered with an error (`errors.DatabaseError`: a trigger's RAISE, a constraint, a
stack depth limit) would fail the same way after any backoff: it reaches the caller, which
decides what to do without it (`Gate.attempt` logs it and goes on).

Threading: a `Gate` may be shared by threads (one lock); `Backoff` is not thread-safe alone.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from queuectl import errors

__all__ = ["Backoff", "Gate", "Offline"]

_T = TypeVar("_T")

FIRST_DELAY = 0.1
MAX_DELAY = 10.0
_REMIND_EVERY = 60.0


class Offline(Exception):
    """The database is away: the call was refused (backing off) or just failed."""


class Backoff:
    """Exponential backoff with full jitter between `first` and `cap` seconds. With `floor`
    > 0 each delay is uniform in [floor * ceiling, ceiling] instead ("equal jitter" at 0.5):
    still spread out, but never far below the current step."""

    def __init__(self, *, first: float = FIRST_DELAY, cap: float = MAX_DELAY,
                 rand: Callable[[], float] = random.random, floor: float = 0.0) -> None:
        self.first = first
        self.cap = cap
        self.floor = floor
        self._rand = rand
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure; the delay before the next attempt."""
        ceiling = min(self.cap, self.first * 2 ** min(self.failures, 32))
        self.failures += 1
        return float(ceiling * (self.floor + (1.0 - self.floor) * self._rand()))

    def reset(self) -> None:
        """A success: the next failure starts from `first` again."""
        self.failures = 0


class Gate:
    """Lets calls through to the database while it answers; backs off while it does not."""

    def __init__(self, *, name: str, log: logging.Logger, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._log = log
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._down_since: float | None = None
        self._reminded_at = 0.0
        self.attempts_while_down = 0
        self._reason = ""
        self._refused_at: dict[str, float] = {}

    @property
    def down(self) -> bool:
        """True while the last call failed and none has succeeded since."""
        return self._down_since is not None

    def wait_time(self) -> float:
        """Seconds until the next attempt is allowed (0 when calls go through)."""
        return max(0.0, self._retry_at - self._clock())

    def ready(self) -> bool:
        """True when a call would be attempted now."""
        return self.wait_time() == 0.0

    def call(self, fn: Callable[[], _T]) -> _T:
        """`fn()` if the database may be tried now; raises `Offline` if it may not, or if the
        call found it away (`DatabaseUnavailable`). A `DatabaseError` (the server answered,
        and refused the statement) is no outage: it passes through, and the database counts
        as there."""
        if not self.ready():
            raise Offline(self.name)
        try:
            result = fn()
        except errors.DatabaseUnavailable as exc:
            self.failed(exc)
            raise Offline(self.name) from exc
        except errors.DatabaseError:
            self.succeeded()
            raise
        self.succeeded()
        return result

    def attempt(self, what: str, fn: Callable[[], _T]) -> _T | None:
        """`call(fn)`, or None when the server refused it (`DatabaseError`): logged as a
        warning naming `what`, at most once a minute for each `what`, so that one refused
        chore never stops the others (raises `Offline` as `call` does)."""
        try:
            return self.call(fn)
        except errors.DatabaseError as exc:
            self.refused(what, exc)
            return None

    def refused(self, what: str, exc: errors.DatabaseError) -> None:
        """Log that the server refused `what` (at most once a minute for each `what`)."""
        with self._lock:
            now = self._clock()
            if now - self._refused_at.get(what, -_REMIND_EVERY) < _REMIND_EVERY:
                return
            self._refused_at[what] = now
        self._log.warning("%s: %s refused by the database (%s); carrying on without it",
                          self.name, what, exc)

    def failed(self, exc: BaseException) -> None:
        """Record a failed attempt (also for callers that do not go through `call`)."""
        with self._lock:
            now = self._clock()
            self._retry_at = now + self._backoff.next_delay()
            reason, changed = str(exc), str(exc) != self._reason
            self._reason = reason
            if self._down_since is None:
                self._down_since = self._reminded_at = now
                self.attempts_while_down = 1
                self._log.warning("%s: database unavailable (%s); retrying with backoff "
                                  "(at most every %gs)", self.name, exc, self._backoff.cap)
                return
            self.attempts_while_down += 1
            if changed or now - self._reminded_at >= _REMIND_EVERY:
                self._reminded_at = now
                self._log.warning("%s: database still unavailable after %.0fs (%d attempts): "
                                  "%s", self.name, now - self._down_since,
                                  self.attempts_while_down, exc)

    def succeeded(self) -> float | None:
        """Record a success; returns how long the database was away, if it was."""
        if self._down_since is None:
            return None  # the hot path: no lock while all is well
        with self._lock:
            if self._down_since is None:
                return None
            away = self._clock() - self._down_since
            self._down_since = None
            self._retry_at = 0.0
            self._backoff.reset()
        self._log.warning("%s: database is back after %.1fs", self.name, away)
        return away
