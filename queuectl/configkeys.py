"""The configuration keys, their defaults, units and validation. Pure: no I/O.

Durations accept a unit suffix (`ms`, `s`, `m`, `h`, `d`); a bare number means seconds, for every
duration key (`job_timeout` too, though it is stored in ms). Stored values are the canonical
numbers in the key's unit, as text. `ALIASES` maps names other queue tools use to our keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from queuectl import errors

__all__ = [
    "ALIASES",
    "KEYS",
    "Key",
    "canonical_key",
    "defaults",
    "format_value",
    "parse",
    "parse_stored",
]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d)?\s*$")


@dataclass(frozen=True)
class Key:
    """A config key: its default, unit and the parser that validates a value."""

    name: str
    default: float | int | None
    unit: str
    help: str
    parse: Callable[[str], float | int | None]
    #: Parses a stored value; None when it is `parse` (only job_timeout's bare numbers differ).
    stored: Callable[[str], float | int | None] | None = None


def _int(minimum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _number(minimum: float, *, above: bool = False) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {raw!r}")
        if value < minimum or (above and value == minimum):
            raise ValueError(f"must be {'greater than' if above else 'at least'} {minimum:g}")
        return value

    return parse


def _duration(unit: str, *, optional: bool = False, minimum: float = 0.0,
              bare: str = "s") -> Callable[[str], float | int | None]:
    """A duration parser whose result is in `unit`; a number without a suffix is in `bare`."""
    scale = _UNITS[unit]

    def parse(raw: str) -> float | None:
        if optional and raw.strip().lower() in ("", "none", "off", "0"):
            return None
        match = _DURATION.match(raw)
        if not match:
            raise ValueError(f"expected a duration like 30, 500ms, 2s, 5m or 1h, got {raw!r}")
        value = float(match.group(1)) * _UNITS[match.group(2) or bare] / scale
        if value <= minimum:
            raise ValueError(f"must be more than {minimum:g}{unit}")
        return int(value) if unit == "ms" else value

    return parse


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("max_retries", 3, "", "retries after the first run (a job runs at most N+1 times)",
            _int(0)),
        Key("backoff_base", 2.0, "", "retry k waits backoff_base ** k seconds",
            _number(1.0)),
        Key("backoff_max", 3600.0, "s", "cap on one retry delay", _duration("s")),
        Key("job_timeout", None, "ms", "timeout for jobs that set none (none = no limit)",
            _duration("ms", optional=True), _duration("ms", optional=True, bare="ms")),
        Key("poll_interval", 1.0, "s", "idle workers check the queue at least this often",
            _duration("s", minimum=0.0)),
        Key("heartbeat_interval", 5.0, "s", "how often a worker proves it is alive",
            _duration("s")),
        Key("lease_timeout", 30.0, "s",
            "a job whose worker missed heartbeats this long is rescued", _duration("s")),
        Key("retention", 7 * 86400.0, "s",
            "finished jobs and metrics older than this are pruned (0 = keep forever)",
            _duration("s", optional=True, minimum=-1.0)),
    )
}


ALIASES = {"default_max_retries": "max_retries"}


def canonical_key(name: str) -> str:
    """`backoff-base` → `backoff_base`, `default-max-retries` → `max_retries`; unknown keys
    raise InvalidConfig."""
    key = name.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in KEYS:
        raise errors.InvalidConfig(
            f"unknown config key {name!r}; known keys: {', '.join(sorted(KEYS))}"
        )
    return key


def parse(name: str, raw: str) -> tuple[str, float | int | None]:
    """Validate `raw` for key `name`; returns (canonical key, value)."""
    key = canonical_key(name)
    try:
        return key, KEYS[key].parse(raw)
    except ValueError as exc:
        raise errors.InvalidConfig(f"invalid value for {key}: {exc}") from None


def parse_stored(key: str, raw: str) -> float | int | None:
    """A value as stored in the config table (already validated when it was set)."""
    if raw == "none":
        return None
    return (KEYS[key].stored or KEYS[key].parse)(raw)


def format_value(value: float | int | None) -> str:
    """How a value is stored and shown: `none`, or the number without a needless `.0`."""
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def defaults() -> dict[str, float | int | None]:
    """Every key with its default value."""
    return {k.name: k.default for k in KEYS.values()}
