"""Formatting shared by the command groups: tables, times and durations for people, and JSON
output for scripts (the JSON objects themselves are `queuectl.serialize`'s).

Times for people are shown in the local time zone with its offset (`2026-11-22 06:13:52
+01:00`), everywhere a person reads a time; JSON stays ISO 8601 in UTC.

Text from jobs (a command, a unique key, an error taken from a job's output...) reaches a
person's terminal only through `escape`: a control character (C0, DEL, C1) is shown as
`\n`, `\r`, `\t` or `\x1b`, never sent raw, so a job field cannot move the cursor, retitle
the window or hide text (an OSC sequence). `table` and `short` escape every cell; JSON stays
exact, and `logs` prints a job's output as it was captured (as `cat` would).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any

import typer

__all__ = ["claiming_paused_line", "emit_json", "escape", "fmt_duration", "fmt_runs",
           "fmt_time", "job_state", "plural", "short", "table"]

_ESCAPE_RE = re.compile(r"\\x[0-9a-f]{2}|\\[nrt]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Every C0 control character, DEL and every C1 control character, to its escape.
_ESCAPES = {c: _NAMED.get(chr(c), f"\\x{c:02x}")
            for c in (*range(0x20), *range(0x7F, 0xA0))}


def escape(text: str, *, keep: str = "") -> str:
    """`text` with its control characters written out (`\\x1b`, `\\n`), safe to print to a
    terminal; those in `keep` (e.g. `"\\n\\t"` for a block of lines) stay as they are. A
    backslash already in the text is not doubled."""
    table = {c: e for c, e in _ESCAPES.items() if chr(c) not in keep} if keep else _ESCAPES
    return text.translate(table)


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
    """`0.123s`, `12.3s`, `4m05s`, `3h07m`, `2d05h`, `739,215d`, or `-` (also for a value
    that is not a number): days are the largest unit, so any age a job can have reads
    exactly, up to the 3.6 million days between year 1 and 9999."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 0:
        return "-" + fmt_duration(-seconds)
    if seconds < 10:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    if days < 100:
        return f"{days}d{hours:02d}h"
    return f"{days:,}d"


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 job`, `2 jobs`, `0 jobs` (`words`: the plural when it is not `word` + s)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def fmt_runs(attempts: int, max_retries: int) -> str:
    """How far a job is through its runs, the one notation for people everywhere:
    `run 2 of at most 4` (its current or last run; at most max_retries + 1), or `no run yet
    (at most 4)`."""
    most = max_retries + 1
    if attempts <= 0:
        return f"no run yet (at most {most})"
    return f"run {attempts} of at most {most}"


def job_state(state: str, paused_at: datetime | None) -> str:
    """A job's state for a table cell: `processing (paused)` for a running job stopped by
    `pause` (SIGSTOP), else the state."""
    return f"{state} (paused)" if state == "processing" and paused_at is not None else state


def claiming_paused_line(since: datetime, by: str | None = None) -> str:
    """What every overview says while `pause --all` holds."""
    who = f", by {escape(by)}" if by else ""
    return (f"claiming is paused across the fleet since {fmt_time(since)}{who}: no worker "
            "starts new jobs (`queuectl resume --all` restarts it)")


def short(text: str | None, n: int = 48) -> str:
    """One line, at most `n` characters, its control characters escaped (a newline reads
    `\\n`) and runs of spaces made one; an escape is never cut in half."""
    if not text:
        return ""
    words = " ".join(escape(text).split())
    if len(words) <= n:
        return words
    cut = n - 1
    for match in _ESCAPE_RE.finditer(words, max(0, cut - 3), cut + 3):
        if match.start() < cut < match.end():
            cut = match.start()
    return words[:cut] + "…"


def emit_json(data: Any) -> None:
    """Print `data` as JSON on stdout."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(rows: list[list[Any]], headers: list[str]) -> None:
    """Print a plain table on stdout, every text cell escaped (`escape`)."""
    from tabulate import tabulate  # imported here: it takes longer to load than it runs

    cells = [[escape(c) if isinstance(c, str) else c for c in row] for row in rows]
    typer.echo(tabulate(cells, headers=headers, tablefmt="simple", disable_numparse=True))
