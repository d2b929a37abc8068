"""Formatting shared by the command groups: tables, times and durations for people, and JSON
output for scripts (the JSON objects themselves are `queuectl.serialize`'s).

Times for people are shown in the local time zone with its offset (`2026-11-22 06:13:52
+01:00`), everywhere a person reads a time; JSON stays ISO 8601 in UTC.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import typer

__all__ = ["emit_json", "fmt_duration", "fmt_time", "short", "table"]


def fmt_time(value: datetime | None) -> str:
    """`2026-11-22 06:13:52 +01:00` in the local time zone, or `-`."""
    if not value:
        return "-"
    try:
        v = value.astimezone()
    except (OverflowError, OSError, ValueError):  # outside the platform's local-time range
        v = value
    return f"{v.year:04d}-{v:%m-%d %H:%M:%S} {_offset(v)}"  # %Y drops zeros before year 1000


def _offset(value: datetime) -> str:
    """`+01:00`, `-03:30`, or `+00:09:21` for an old local mean time."""
    seconds = int((value.utcoffset() or timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def fmt_duration(seconds: float | None) -> str:
    """`0.123s`, `12.3s`, `4m05s`, or `-`."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s"


def short(text: str | None, n: int = 48) -> str:
    """One line, at most `n` characters."""
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(rows: list[list[Any]], headers: list[str]) -> None:
    """Print a plain table on stdout."""
    from tabulate import tabulate  # imported here: it takes longer to load than it runs

    typer.echo(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
