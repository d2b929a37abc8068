"""Cron schedules as pure time arithmetic: parse a schedule, find its next tick after an
instant and its latest tick at or before one. No I/O; the cron store and the leader's upkeep
use it with the database's clock.

A schedule is one of:
- a standard 5-field cron expression (minute hour day-of-month month day-of-week), evaluated
  by `cronsim` in the schedule's time zone, so `0 9 * * *` in Europe/Paris is 09:00 Paris
  time in winter and summer alike (a time that a DST change skips or repeats follows
  Debian cron, as cronsim does);
- `@hourly`, `@daily` (or `@midnight`), `@weekly`, `@monthly`, `@yearly` (or `@annually`):
  the usual aliases of `0 * * * *`, `0 0 * * *`, `0 0 * * 0`, `0 0 1 * *`, `0 0 1 1 *`;
- `@every N` with a unit `s`, `m` or `h` (`@every 30s`, `@every 5m`, `@every 2h`): ticks at
  whole multiples of N since the Unix epoch, so `@every 20s` ticks at :00, :20 and :40 of each
  minute on every host, whatever the time zone, and `@every 2h` at even UTC hours.

Every problem raises `errors.UsageError` with one line.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from queuectl import errors
from queuectl.core import jobspec

__all__ = ["MAX_EVERY", "Schedule", "check_name", "check_zone", "iana_zones", "parse",
           "parse_template"]

ALIASES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_UNITS = {"s": 1, "m": 60, "h": 3600}
MAX_EVERY = 366 * 86400  # seconds; a longer period is better said with a cron expression
# ASCII: `\d` would take other scripts' digits, and IGNORECASE alone `ſ` for `s`.
_EVERY = re.compile(r"@every\s+([0-9]{1,9})\s*([smh])", re.IGNORECASE | re.ASCII)
_MAX_TEXT = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
#: Enqueue fields a template may not hold: every tick's job needs its own id, and runs now.
NOT_IN_TEMPLATE = ("id", "run_at")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: `every` seconds (for `@every`) or a 5-field cron `expr`, in `zone`
    (an IANA name; `@every` ignores it)."""

    text: str
    zone: str
    every: int | None = None
    expr: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        """The zone as a tzinfo."""
        return ZoneInfo(self.zone)

    def next_tick(self, after: datetime) -> datetime | None:
        """The first tick strictly after `after` (aware), in UTC; None if there is none in
        the next 50 years (`0 0 30 2 *`)."""
        if self.every is not None:
            seconds = int(after.timestamp() // self.every + 1) * self.every
            return datetime.fromtimestamp(seconds, UTC)
        from cronsim import CronSim

        assert self.expr is not None
        try:
            tick = next(CronSim(self.expr, after.astimezone(self.tz)))
        except StopIteration:
            return None
        return tick.astimezone(UTC)

    def latest_tick(self, at: datetime) -> datetime | None:
        """The last tick at or before `at` (aware), in UTC; None if none in 50 years."""
        if self.every is not None:
            seconds = int(at.timestamp() // self.every) * self.every
            return datetime.fromtimestamp(seconds, UTC)
        from cronsim import CronSim

        assert self.expr is not None
        # cronsim goes back from the start, exclusive; one microsecond later makes `at` count
        # (a second would be too much: from 12:00:59.5 it would return 12:01, in the future).
        start = (at + timedelta(microseconds=1)).astimezone(self.tz)
        try:
            tick = next(CronSim(self.expr, start, reverse=True))
        except StopIteration:
            return None
        return tick.astimezone(UTC)

    def due_tick(self, *, now: datetime, done_until: datetime) -> datetime | None:
        """The tick to enqueue now: the latest at or before `now` if it is after `done_until`
        (ticks up to `done_until` were enqueued or skipped), else None. After an outage
        this is the most recent missed tick only, never a backlog."""
        tick = self.latest_tick(now)
        return tick if tick is not None and tick > done_until else None


#: Names in a zoneinfo directory that are not zones every host agrees on: `localtime` and
#: `posixrules` are whatever the host is set to, `Factory` is no place, and `posix/…` and
#: `right/…` copy the zones (`right/` with leap seconds) where a host's data has them.
_HOST_NAMES = frozenset({"localtime", "posixrules", "Factory"})
_HOST_PREFIXES = ("posix/", "right/")


@functools.cache
def iana_zones() -> frozenset[str]:
    """The IANA zone names every host can read: the list of the bundled `tzdata` package
    (a dependency, so every host has it), or, without it, this host's minus the names that
    differ by host."""
    try:
        listed = importlib.resources.files("tzdata").joinpath("zones").read_text("utf-8")
        names = set(listed.split())
    except (ModuleNotFoundError, OSError):
        names = zoneinfo.available_timezones()
    return frozenset(n for n in names
                     if n not in _HOST_NAMES and not n.startswith(_HOST_PREFIXES))


def check_zone(zone: str) -> str:
    """`zone` if it names an IANA time zone that every host reads the same (not `localtime`
    or `posixrules`, which differ by host) and this host can load (else UsageError)."""
    if zone in _HOST_NAMES or zone.startswith(_HOST_PREFIXES):
        raise errors.UsageError(f"time zone {zone!r} depends on each host's zone data; use an "
                                "IANA name such as UTC or Europe/Paris")
    if zone not in iana_zones():
        raise errors.UsageError(f"unknown time zone {zone!r}; use an IANA name such as "
                                "UTC or Europe/Paris")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise errors.UsageError(f"unknown time zone {zone!r}; use an IANA name such as "
                                "UTC or Europe/Paris") from None
    return zone


def parse(text: str, zone: str = "UTC") -> Schedule:
    """A schedule from its text (see the module docstring) in `zone` (else UsageError)."""
    zone = check_zone(zone)
    cleaned = " ".join(text.split())
    if not cleaned:
        raise errors.UsageError("empty schedule; use 5 cron fields such as '*/5 * * * *', "
                                "@hourly, @daily, @weekly, @monthly or '@every 30s'")
    if len(cleaned) > _MAX_TEXT or not cleaned.isprintable():
        raise errors.UsageError("invalid schedule: too long or not printable text")
    lowered = cleaned.lower()
    if lowered.startswith("@every"):
        return Schedule(cleaned, zone, every=_every(cleaned))
    if lowered.startswith("@"):
        if lowered not in ALIASES:
            raise errors.UsageError(f"unknown schedule {cleaned!r}; use @hourly, @daily, "
                                    "@weekly, @monthly, @yearly or '@every 30s|5m|2h'")
        return Schedule(lowered, zone, expr=ALIASES[lowered])
    return Schedule(cleaned, zone, expr=_expression(cleaned))


def _every(text: str) -> int:
    match = _EVERY.fullmatch(text)
    if not match:
        raise errors.UsageError(f"invalid schedule {text!r}: @every takes a whole number and a "
                                "unit s, m or h, e.g. '@every 30s', '@every 5m', '@every 2h'")
    seconds = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if not 1 <= seconds <= MAX_EVERY:
        raise errors.UsageError(f"invalid schedule {text!r}: the period must be between 1s "
                                f"and {MAX_EVERY // 3600}h")
    return seconds


def _expression(text: str) -> str:
    from cronsim import CronSim, CronSimError

    if len(text.split(" ")) != 5:
        raise errors.UsageError(f"invalid schedule {text!r}: a cron expression has 5 fields "
                                "(minute hour day-of-month month day-of-week)")
    try:
        CronSim(text, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise errors.UsageError(f"invalid schedule {text!r}: {exc}") from None
    return text


def check_name(name: str) -> str:
    """`name` if it is a valid schedule name (else UsageError)."""
    if not _NAME.fullmatch(name):
        raise errors.UsageError(f"invalid cron name {name!r}: use 1-100 letters, digits and "
                                ". _ : - (starting with a letter or digit)")
    return name


def parse_template(text: str) -> tuple[str, jobspec.JobSpec]:
    """A job template (one JSON object of enqueue fields, without `id` or `run_at`) as its
    compact JSON and one job spec made from it (else `errors.InvalidJob`)."""
    text = text.removeprefix("\ufeff")
    specs = jobspec.parse_payload(text)  # every field checked as `enqueue` would
    data = json.loads(text)
    if not isinstance(data, dict):
        raise errors.InvalidJob("a cron template is one JSON object, not an array")
    for name in NOT_IN_TEMPLATE:
        if name in data:
            raise errors.InvalidJob(f"field {name!r} is not allowed in a cron template: each "
                                    "tick enqueues a new job, with its own id, to run at once")
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": ")), specs[0]
