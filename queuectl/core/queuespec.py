"""Queue names, concurrency limits and rates as users write them. Pure: no I/O.

A queue name is 1 to 64 letters, digits, `-`, `_` or `.`; a rate is `N/PERIOD` with N from 1
to 2147483647 (an int4 column) and PERIOD one of `s`, `m`, `h`; a concurrency limit is a whole
number in the same range. Numbers are ASCII digits only (`re`'s `\\d` and `int()` would take
other scripts' digits too, `５` or `٥`). `none` clears a limit. Every problem raises
`errors.UsageError` (exit 2) with one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from queuectl import errors

__all__ = ["DEFAULT", "MAX_NAME_LENGTH", "Rate", "check_name", "name_problem",
           "parse_concurrency", "parse_names", "parse_rate"]

DEFAULT = "default"
MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PERIODS = {"s": 1, "m": 60, "h": 3600}
_MAX_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class Rate:
    """At most `count` job starts per `period` seconds (`unit` is how the user wrote it)."""

    count: int
    period: int
    unit: str

    def __str__(self) -> str:
        return f"{self.count}/{self.unit}"

    @property
    def spacing(self) -> float:
        """Seconds between two starts: the claim spaces starts evenly."""
        return self.period / self.count


def name_problem(value: object) -> str | None:
    """Why `value` is not a queue name, or None when it is one (`.` and `..` are not)."""
    if not isinstance(value, str):
        return "must be a string"
    if not _NAME.fullmatch(value):
        return (f"must be 1 to {MAX_NAME_LENGTH} letters, digits, '-', '_' or '.' "
                f"(got {value[:80]!r})")
    if value in (".", ".."):
        # A web address cannot carry them: clients resolve `/api/queues/../pause` to `/pause`.
        return f"must not be {value!r}: a web address cannot carry it"
    return None


def check_name(value: str) -> str:
    """`value` if it is a valid queue name, else a usage error."""
    problem = name_problem(value)
    if problem:
        raise errors.UsageError(f"queue name {problem}")
    return value


def parse_names(value: str | None) -> list[str] | None:
    """`a,b,c` as a list of queue names (None for None: every queue)."""
    if value is None:
        return None
    names = [n.strip() for n in value.split(",")]
    return list(dict.fromkeys(check_name(n) for n in names))


def parse_rate(value: str) -> Rate | None:
    """`N/s`, `N/m` or `N/h` (None for `none`)."""
    text = value.strip().lower()
    if text == "none":
        return None
    match = re.fullmatch(r"([0-9]{1,10})\s*/\s*([a-z]+)", text)
    if not match or match.group(2) not in _PERIODS:
        raise errors.UsageError(
            f"invalid rate {value[:80]!r}: use N/PERIOD with PERIOD s, m or h "
            "(e.g. 10/s, 100/m, 5/h), or none")
    count = int(match.group(1))
    if not 1 <= count <= _MAX_LIMIT:
        raise errors.UsageError(
            f"invalid rate {value[:80]!r}: N must be a whole number from 1 to {_MAX_LIMIT}")
    unit = match.group(2)
    return Rate(count, _PERIODS[unit], unit)


def parse_concurrency(value: str) -> int | None:
    """A concurrency limit: an integer >= 1 (None for `none`)."""
    text = value.strip().lower()
    if text == "none":
        return None
    if not re.fullmatch(r"[0-9]{1,10}", text) or not 1 <= int(text) <= _MAX_LIMIT:
        raise errors.UsageError(
            f"invalid concurrency {value[:80]!r}: use a whole number from 1 to {_MAX_LIMIT}, "
            "or none")
    return int(text)
