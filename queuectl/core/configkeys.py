"""The configuration keys, their defaults, units and validation. Pure: no I/O.

Durations accept a unit suffix (`ms`, `s`, `m`, `h`, `d`); a bare number means seconds, for every
duration key (`job_timeout` too, though it is stored in ms). Every key has a range chosen so that
no value can overflow a PostgreSQL interval or timestamp, an int4 column or a timer later, and
durations are kept in whole milliseconds. Stored values are the canonical plain decimal numbers
in the key's unit, as text, which `parse_stored` reads back to the same value. `ALIASES` maps
names other queue tools use to our keys. `retry_on`/`no_retry_on` hold sets of exit codes
(1-255), written `64,75` or with ranges `64-78`, stored as the sorted list `64,75`.

One rule ties two keys: `lease_timeout` must be at least `LEASE_HEARTBEATS` heartbeat
intervals (`combination_problem`), since a worker extends its leases, and shows it is alive,
only when it heartbeats. `config set` refuses a value that breaks it against the other key's
stored value; a pair stored before the rule existed is read as is, and `lease_seconds` is the
lease the fleet then uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from queuectl import errors

__all__ = [
    "ALIASES",
    "KEYS",
    "LEASE_HEARTBEATS",
    "Key",
    "Value",
    "canonical_key",
    "combination_problem",
    "defaults",
    "display",
    "format_value",
    "in_seconds",
    "lease_seconds",
    "parse",
    "parse_stored",
]

_MS_PER = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DECIMAL = r"([0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})"
_DURATION = re.compile(r"^\s*" + _DECIMAL + r"\s*(ms|s|m|h|d)?\s*$")
_NUMBER = re.compile(r"^\s*" + _DECIMAL + r"\s*$")
_WHOLE = re.compile(r"^\s*([+-]?[0-9]{1,30})\s*$")
_OFF = ("", "none", "off")

#: A config value: a number, a set of exit codes (sorted tuple), or None ("none"/unset).
Value = float | int | tuple[int, ...] | None


@dataclass(frozen=True)
class Key:
    """A config key: its default, unit, meaning, and the parser that validates a value
    (its range included) and returns it in canonical form."""

    name: str
    default: Value
    unit: str
    help: str
    parse: Callable[[str], Value]
    #: Parses a stored value; None when it is `parse` (only job_timeout's bare numbers differ).
    stored: Callable[[str], Value] | None = None

    @property
    def limits(self) -> str:
        """The values `parse` accepts, as the reference shows them (`0 to 1000000`)."""
        return getattr(self.parse, "limits", "")


class _Parser:
    """A value parser that knows how to describe what it accepts."""

    def __init__(self, parse: Callable[[str], Value], limits: str) -> None:
        self._parse = parse
        self.limits = limits

    def __call__(self, raw: str) -> Value:
        return self._parse(raw)


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        match = _WHOLE.match(raw)
        if not match:
            raise ValueError(f"expected a whole number, got {raw!r}")
        value = int(match.group(1))
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return _Parser(parse, f"whole number, {low} to {high}")  # type: ignore[return-value]


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        match = _NUMBER.match(raw)
        if not match:
            raise ValueError(f"expected a plain decimal number such as 1.5, got {raw!r}")
        value = float(Decimal(match.group(1)))
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {_plain(value)}")
        return value

    return _Parser(parse, f"number, {low:g} to {high:g}")  # type: ignore[return-value]


def _duration(unit: str, low_ms: int, high_ms: int, *, optional: bool = False,
              bare: str = "s") -> Callable[[str], float | int | None]:
    """Durations are kept in whole milliseconds between `low_ms` and `high_ms`, and returned
    in the key's unit (an int for `ms`, a float for `s`); a number without a suffix is in
    `bare`; `optional` maps none/off/0 to None."""

    def parse(raw: str) -> float | int | None:
        if optional and raw.strip().lower() in _OFF:
            return None
        match = _DURATION.match(raw)
        if not match:
            raise ValueError(f"expected a duration like 30, 500ms, 2s, 5m, 1h or 7d, got "
                             f"{raw!r}")
        ms = Decimal(match.group(1)) * _MS_PER[match.group(2) or bare]
        if optional and ms == 0:
            return None
        if not low_ms <= ms <= high_ms:
            raise ValueError(f"must be between {_human(low_ms)} and {_human(high_ms)}, "
                             f"got {raw.strip()}")
        if ms != ms.to_integral_value():
            raise ValueError(f"durations are kept in whole milliseconds; {raw.strip()!r} is "
                             "finer than that")
        return int(ms) if unit == "ms" else float(ms / _MS_PER[unit])

    off = ", or none (none, off or 0)" if optional else ""
    return _Parser(parse,  # type: ignore[return-value]
                   f"duration, {_human(low_ms)} to {_human(high_ms)}{off}")


_CODE_RANGE = re.compile(r"^([0-9]{1,3})(?:-([0-9]{1,3}))?$")


def _exit_codes(raw: str) -> tuple[int, ...] | None:
    """A set of exit codes 1-255 (`64,75`, `64 75` or ranges `64-78`); none/off is None."""
    if raw.strip().lower() in _OFF:
        return None
    codes: set[int] = set()
    for part in raw.replace(",", " ").split():
        match = _CODE_RANGE.match(part)
        if not match:
            raise ValueError(f"expected exit codes like 64,75 or 64-78, got {part!r}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 1 <= low <= high <= 255:
            raise ValueError(f"exit codes are 1 to 255 (low to high), got {part!r}")
        codes.update(range(low, high + 1))
    if not codes:
        raise ValueError(f"expected exit codes like 64,75 or none, got {raw!r}")
    return tuple(sorted(codes))


def _human(ms: int) -> str:
    """The largest unit that divides `ms` evenly: 86400000 → `1d`, 1500 → `1500ms`."""
    for unit in ("d", "h", "m", "s"):
        if ms % _MS_PER[unit] == 0:
            return f"{ms // _MS_PER[unit]}{unit}"
    return f"{ms}ms"


_CODES = _Parser(_exit_codes, "exit codes 1-255 (64,75 or 64-78), or none")
_DAY = _MS_PER["d"]
_INT32 = 2**31 - 1

KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("max_retries", 3, "", "retries after the first run (a job runs at most N+1 times)",
            _int(0, 1_000_000)),
        Key("backoff_base", 2.0, "", "retry k waits backoff_base ** k seconds",
            _number(1.0, 100.0)),
        Key("backoff_max", 3600.0, "s", "cap on one retry delay",
            _duration("s", 1, 365 * _DAY)),
        Key("backoff_jitter", 0.1, "",
            "each retry delay is multiplied by a random factor in [1 - j, 1 + j]",
            _number(0.0, 1.0)),
        Key("retry_on", None, "",
            "exit codes retried for jobs that set neither retry_on nor no_retry_on "
            "(others go to dead at once; none = all)", _CODES),
        Key("no_retry_on", None, "",
            "exit codes that go to dead at once for jobs that set neither retry_on nor "
            "no_retry_on (none = none)", _CODES),
        Key("job_timeout", None, "ms", "timeout for jobs that set none (none = no limit)",
            _duration("ms", 1, _INT32, optional=True),
            _duration("ms", 1, _INT32, optional=True, bare="ms")),
        Key("poll_interval", 1.0, "s", "idle workers check the queue at least this often",
            _duration("s", 10, 3_600_000)),
        Key("heartbeat_interval", 5.0, "s", "how often a worker proves it is alive",
            _duration("s", 100, 3_600_000)),
        Key("lease_timeout", 30.0, "s",
            "a job whose worker missed heartbeats this long is rescued",
            _duration("s", 1000, 7 * _DAY)),
        Key("retention", 7 * 86400.0, "s",
            "finished jobs and metrics older than this are pruned (0 = keep forever)",
            _duration("s", 1000, 36500 * _DAY, optional=True)),
    )
}


ALIASES = {"default_max_retries": "max_retries"}

# Keys that other tools of this kind keep in their config, with what queuectl does instead.
ELSEWHERE = {
    "data_dir": "queuectl keeps no data directory in the database: this host's pid files and "
                "worker logs live in QUEUECTL_HOME (default ~/.queuectl), and fleet settings "
                "are the keys of `queuectl config list`",
}


def canonical_key(name: str) -> str:
    """`backoff-base` → `backoff_base`, `default-max-retries` → `max_retries`; unknown keys
    raise InvalidConfig."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key in ELSEWHERE:
        raise errors.InvalidConfig(f"{name!r} is not a config key here; {ELSEWHERE[key]}")
    if key not in KEYS:
        raise errors.InvalidConfig(
            f"unknown config key {name!r}; known keys: {', '.join(sorted(KEYS))}"
        )
    return key


def parse(name: str, raw: str) -> tuple[str, Value]:
    """Validate `raw` for key `name`; returns (canonical key, value)."""
    key = canonical_key(name)
    try:
        return key, KEYS[key].parse(raw)
    except ValueError as exc:
        raise errors.InvalidConfig(f"invalid value for {key}: {exc}") from None


def parse_stored(key: str, raw: str) -> Value:
    """A value as stored in the config table; raises ValueError for one this version cannot
    use (out of range, or written by an older version in another form)."""
    return (KEYS[key].stored or KEYS[key].parse)(raw)


def format_value(value: Value) -> str:
    """How a value is stored and shown: `none`, the plain decimal number (never an exponent,
    no needless `.0`) or exit codes `64,75`; `parse` reads it back to the same value."""
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return _plain(value)


def display(key: str, value: Value) -> str:
    """How people read a value: durations in the largest unit that holds them whole
    (`retention` 604800 → `7d`, `job_timeout` 1500 → `1500ms`), which `parse` reads back;
    everything else as `format_value`."""
    unit = KEYS[key].unit
    if value is None or isinstance(value, tuple) or unit not in _MS_PER:
        return format_value(value)
    ms = Decimal(_plain(value)) * _MS_PER[unit]
    return _human(int(ms)) if ms == ms.to_integral_value() else format_value(value)


def in_seconds(key: str, value: Value) -> Value:
    """A value as `config list --json` gives it: durations in seconds (job_timeout too),
    the rest unchanged."""
    unit = KEYS[key].unit
    if value is None or isinstance(value, tuple) or unit not in _MS_PER or unit == "s":
        return value
    seconds = Decimal(_plain(value)) * _MS_PER[unit] / 1000
    return int(seconds) if seconds == seconds.to_integral_value() else float(seconds)


def _plain(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def defaults() -> dict[str, Value]:
    """Every key with its default value."""
    return {k.name: k.default for k in KEYS.values()}


#: A lease must outlast this many heartbeat intervals: a worker extends its leases only when
#: it heartbeats, so with fewer one late heartbeat lets them expire under a live worker (its
#: jobs are rescued and run again elsewhere) and `status` and `worker stop` stop seeing it. The
#: defaults (5s and 30s) leave six.
LEASE_HEARTBEATS = 2


def combination_problem(values: Mapping[str, Value]) -> str | None:
    """Why `values` (a whole config: every key) cannot work together, or None."""
    lease, beat = values["lease_timeout"], values["heartbeat_interval"]
    assert isinstance(lease, float | int) and isinstance(beat, float | int)
    if lease >= LEASE_HEARTBEATS * beat:
        return None
    return (f"lease_timeout {_plain(lease)}s is shorter than {LEASE_HEARTBEATS} heartbeat "
            f"intervals (heartbeat_interval {_plain(beat)}s, so at least "
            f"{_plain(LEASE_HEARTBEATS * beat)}s): a worker extends its leases only when it "
            "heartbeats, so they would expire under live workers")


def lease_seconds(values: Mapping[str, Value]) -> float:
    """The lease the fleet uses: `lease_timeout`, or `LEASE_HEARTBEATS` heartbeat intervals
    when that is longer (a pair `config set` refuses, stored before it did)."""
    lease, beat = values["lease_timeout"], values["heartbeat_interval"]
    assert isinstance(lease, float | int) and isinstance(beat, float | int)
    return max(float(lease), LEASE_HEARTBEATS * float(beat))
