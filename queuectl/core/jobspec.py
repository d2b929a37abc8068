"""Parse and validate enqueue payloads into `JobSpec`s. Pure: no I/O.

Every problem raises `errors.InvalidJob` with one line naming the job and the field.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from queuectl import errors
from queuectl.core import queuespec

__all__ = [
    "FIELDS",
    "MAX_COMMAND_BYTES",
    "MAX_ENV_BYTES",
    "MAX_ID_LENGTH",
    "RESERVED_ENV",
    "JobSpec",
    "decode",
    "find_cycle",
    "parse_payload",
]

FIELDS = ("id", "command", "max_retries", "priority", "run_at", "timeout", "tags", "queue",
          "unique_key", "after", "retry_on", "no_retry_on", "backoff_base", "cwd", "env")
MAX_ENV_BYTES = 64 * 1024
#: Set by the worker for every job; a job's `env` may not set them.
RESERVED_ENV = ("QUEUECTL_JOB_ID", "QUEUECTL_ATTEMPT", "QUEUECTL_QUEUE")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_BACKOFF_BASE = 100.0
MAX_COMMAND_BYTES = 1024 * 1024
MAX_ID_LENGTH = 255
_INT32 = 2**31 - 1


@dataclass(frozen=True)
class JobSpec:
    """A validated job to enqueue; `max_retries=None` means "use the configured default"."""

    id: str
    command: str
    max_retries: int | None = None
    priority: int = 0
    run_at: datetime | None = None
    timeout_ms: int | None = None
    tags: list[str] = field(default_factory=list)
    retry_on: tuple[int, ...] | None = None
    no_retry_on: tuple[int, ...] | None = None
    backoff_base: float | None = None
    cwd: str | None = None
    env: Mapping[str, str] | None = None
    queue: str = queuespec.DEFAULT
    unique_key: str | None = None
    after: list[str] = field(default_factory=list)


def decode(data: bytes, source: str) -> str:
    """The text of a payload read as bytes from `source` (e.g. "standard input"): strict
    UTF-8 (`parse_payload` allows one leading byte order mark)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.InvalidJob(
            f"{source} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def parse_payload(text: str, *, here: str | None = None) -> list[JobSpec]:
    """Parse a JSON object or array of objects into job specs (all valid, or an error);
    one leading byte order mark is allowed. `here` (a directory) becomes the `cwd` of every
    job that sets none (`enqueue --here`)."""
    data = _load_json(text.removeprefix("\ufeff"))
    items = data if isinstance(data, list) else [data]
    if not items:
        raise errors.InvalidJob("empty array: nothing to enqueue")
    many = isinstance(data, list)
    specs = [_parse_one(item, f"job #{i + 1}: " if many else "", here)
             for i, item in enumerate(items)]
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            raise errors.InvalidJob(f"duplicate id {spec.id!r} in the payload")
        seen.add(spec.id)
    cycle = find_cycle({s.id: s.after for s in specs})
    if cycle:
        raise errors.DependencyCycle(f"'after' makes a cycle{_path(cycle)}; nothing was "
                                     "enqueued", ids=[s.id for s in specs])
    return specs


_CYCLE_SHOWN = 5  # ids; a long cycle is named by its first ids and its length


def _path(cycle: list[str]) -> str:
    """`: a -> b -> a`, or for a long cycle `of N jobs: a -> b -> ... -> a` (first ids)."""
    if len(cycle) - 1 <= _CYCLE_SHOWN + 1:
        return ": " + " -> ".join(cycle)
    return (f" of {len(cycle) - 1} jobs: " + " -> ".join(cycle[:_CYCLE_SHOWN])
            + f" -> ... -> {cycle[0]}")


def find_cycle(after: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle among these jobs (`after[id]` = the ids it waits for; ids that are
    not keys are outside, and cannot lead back), as a path whose first and last ids are the
    same, or None. Iterative depth-first search: a long chain does not hit the recursion
    limit."""
    done: set[str] = set()
    for root in after:
        if root in done:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack = [iter(after[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt in on_path:
                return path[path.index(nxt):] + [nxt]
            if nxt in done or nxt not in after:
                continue
            path.append(nxt)
            on_path.add(nxt)
            stack.append(iter(after[nxt]))
    return None


def _load_json(text: str) -> Any:
    """json.loads, with every way it can fail turned into one InvalidJob line."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from the command line
        raise errors.InvalidJob("the payload is not valid UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Unexpected UTF-8 BOM"):
            raise errors.InvalidJob("invalid JSON: more than one byte order mark (U+FEFF) "
                                    "at the start") from None
        raise errors.InvalidJob(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise errors.InvalidJob("invalid payload: JSON nested far too deeply") from None


_MAX_INT_DIGITS = 20


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise errors.InvalidJob(f"duplicate field {key!r} in a JSON object")
        seen[key] = value
    return seen


def _bounded_int(digits: str) -> int:
    # Python refuses to convert integers over 4300 digits; no field needs more than 20.
    if len(digits.lstrip("-")) > _MAX_INT_DIGITS:
        raise errors.InvalidJob(f"number {digits[:12]}... is too large for any field")
    return int(digits)


def _parse_one(item: Any, where: str, here: str | None = None) -> JobSpec:
    if not isinstance(item, dict):
        raise errors.InvalidJob(f"{where}expected a JSON object like {{\"command\": \"...\"}}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise errors.InvalidJob(
            f"{where}unknown field {unknown[0]!r}; allowed fields: {', '.join(FIELDS)}"
        )
    if "command" not in item:
        raise errors.InvalidJob(f"{where}field 'command' is required")
    if item.get("retry_on") is not None and item.get("no_retry_on") is not None:
        raise errors.InvalidJob(f"{where}give at most one of 'retry_on' and 'no_retry_on'")
    return JobSpec(
        id=_id(item.get("id"), where),
        command=_command(item["command"], where),
        max_retries=_int(item, "max_retries", where, optional=True),
        priority=_int(item, "priority", where, signed=True) or 0,
        run_at=_run_at(item.get("run_at"), where),
        timeout_ms=_timeout(item, where),
        tags=_tags(item.get("tags"), where),
        retry_on=_codes(item, "retry_on", where),
        no_retry_on=_codes(item, "no_retry_on", where),
        backoff_base=_backoff_base(item.get("backoff_base"), where),
        cwd=_cwd(item.get("cwd"), where, here),
        env=_env(item.get("env"), where),
        queue=_queue(item.get("queue", queuespec.DEFAULT), where),
        unique_key=_unique_key(item.get("unique_key"), where),
        after=_after(item.get("after"), where),
    )


def _text_ok(value: str) -> bool:
    """No NUL (PostgreSQL text cannot hold it) and no lone surrogate (not encodable)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _command(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise errors.InvalidJob(f"{where}field 'command' must be a string")
    if not value.strip():
        raise errors.InvalidJob(f"{where}field 'command' must not be empty")
    if not _text_ok(value):
        raise errors.InvalidJob(
            f"{where}field 'command' must not contain NUL characters or lone surrogates")
    if len(value.encode("utf-8")) > MAX_COMMAND_BYTES:
        raise errors.InvalidJob(f"{where}field 'command' is longer than 1 MiB")
    return value


def _id(value: Any, where: str) -> str:
    if value is None:
        return str(uuid.uuid4())
    if not isinstance(value, str):
        raise errors.InvalidJob(f"{where}field 'id' must be a string")
    if not value.strip() or not value.isprintable() or not _text_ok(value):
        raise errors.InvalidJob(
            f"{where}field 'id' must be non-empty printable text (no control characters)"
        )
    if len(value) > MAX_ID_LENGTH:
        raise errors.InvalidJob(f"{where}field 'id' is longer than {MAX_ID_LENGTH} characters")
    if value in (".", ".."):
        # Clients resolve `/api/jobs/..` (even sent as `%2E%2E`) before sending it, so the
        # dashboard could never open such a job. Jobs stored before this rule keep their ids.
        raise errors.InvalidJob(f"{where}field 'id' must not be {value!r}: a web address "
                                "cannot carry it")
    return value


def _int(item: dict[str, Any], name: str, where: str, *, optional: bool = False,
         signed: bool = False) -> int | None:
    value = item.get(name)
    if value is None:
        if name in item and not optional:
            raise errors.InvalidJob(f"{where}field {name!r} must be an integer, not null")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise errors.InvalidJob(f"{where}field {name!r} must be an integer")
    if not signed and value < 0:
        raise errors.InvalidJob(f"{where}field {name!r} must not be negative")
    if abs(value) > _INT32:
        raise errors.InvalidJob(f"{where}field {name!r} is out of range")
    return value


def _timeout(item: dict[str, Any], where: str) -> int | None:
    value = _int({"timeout": item.get("timeout")}, "timeout", where, optional=True)
    if value == 0:
        raise errors.InvalidJob(f"{where}field 'timeout' must be a positive number of ms")
    return value


def _run_at(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidJob(f"{where}field 'run_at' must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise errors.InvalidJob(
            f"{where}field 'run_at' is not an ISO 8601 date: {value!r} "
            "(e.g. 2026-01-31T09:30:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise errors.InvalidJob(
            f"{where}field 'run_at' is out of range: {value!r} is outside years 1 to 9999 "
            "in UTC") from None


def _tags(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise errors.InvalidJob(f"{where}field 'tags' must be a list of strings")
    if not all(t and _text_ok(t) for t in value):
        raise errors.InvalidJob(f"{where}field 'tags' must not contain empty strings or NULs")
    return list(dict.fromkeys(value))


def _codes(item: dict[str, Any], name: str, where: str) -> tuple[int, ...] | None:
    """A list of exit codes 1-255 (sorted, without repeats), or None when absent."""
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in value):
        raise errors.InvalidJob(f"{where}field {name!r} must be a list of exit codes "
                                "(integers 1 to 255)")
    bad = [c for c in value if not 1 <= c <= 255]
    if bad:
        raise errors.InvalidJob(f"{where}field {name!r}: exit codes are 1 to 255, not {bad[0]}")
    return tuple(sorted(set(value)))


def _backoff_base(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise errors.InvalidJob(f"{where}field 'backoff_base' must be a number of seconds")
    if not 0 < value <= _MAX_BACKOFF_BASE:
        raise errors.InvalidJob(f"{where}field 'backoff_base' must be more than 0 and at most "
                                f"{_MAX_BACKOFF_BASE:g}")
    return float(value)


def _cwd(value: Any, where: str, here: str | None) -> str | None:
    if value is None:
        return here
    if not isinstance(value, str) or not value.startswith("/") or not _text_ok(value):
        raise errors.InvalidJob(f"{where}field 'cwd' must be an absolute directory path "
                                "(starting with /, without NUL)")
    if len(value.encode("utf-8")) > 4096:
        raise errors.InvalidJob(f"{where}field 'cwd' is longer than 4096 bytes")
    return value


def _env(value: Any, where: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.InvalidJob(f"{where}field 'env' must be an object of NAME: \"value\"")
    size = 0
    for name, text in value.items():
        if not _ENV_NAME.fullmatch(name):
            raise errors.InvalidJob(f"{where}field 'env': {name!r} is not a valid variable "
                                    "name (letters, digits and _, not starting with a digit)")
        if name in RESERVED_ENV:
            raise errors.InvalidJob(f"{where}field 'env': {name} is set by the worker")
        if not isinstance(text, str) or not _text_ok(text):
            raise errors.InvalidJob(f"{where}field 'env': the value of {name} must be a "
                                    "string without NUL characters")
        size += len(name) + len(text.encode("utf-8")) + 2  # NAME=value\0
    if size > MAX_ENV_BYTES:
        raise errors.InvalidJob(f"{where}field 'env' is larger than 64 KiB in all")
    return dict(value)


def _queue(value: Any, where: str) -> str:
    problem = queuespec.name_problem(value)
    if problem:
        raise errors.InvalidJob(f"{where}field 'queue' {problem}")
    return str(value)


def _unique_key(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidJob(f"{where}field 'unique_key' must be a string")
    if not value or not _text_ok(value):
        raise errors.InvalidJob(f"{where}field 'unique_key' must be non-empty text without NULs")
    if not value.isprintable():  # it is shown to people, as an id is
        raise errors.InvalidJob(
            f"{where}field 'unique_key' must be non-empty printable text (no control "
            "characters)")
    if len(value) > MAX_ID_LENGTH:
        raise errors.InvalidJob(
            f"{where}field 'unique_key' is longer than {MAX_ID_LENGTH} characters")
    return value


def _after(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise errors.InvalidJob(f"{where}field 'after' must be a list of job ids (strings)")
    if not all(i and _text_ok(i) and len(i) <= MAX_ID_LENGTH for i in value):
        raise errors.InvalidJob(f"{where}field 'after' must hold job ids: non-empty text "
                                f"without NULs, at most {MAX_ID_LENGTH} characters")
    return list(dict.fromkeys(value))


#: Each field of a job as the reference documents it: (type, default, meaning).
FIELD_DOCS: dict[str, tuple[str, str, str]] = {
    "command": ("non-empty string, required", "",
                "run as `/bin/sh -c COMMAND` on the worker's host"),
    "id": ("string: printable, at most 255 characters", "a UUID", "must be unique"),
    "max_retries": ("whole number ≥ 0", "config `max_retries`",
                    "retries after the first run (at most N+1 runs)"),
    "priority": ("whole number (may be negative)", "0", "higher runs first"),
    "run_at": ("ISO 8601 date and time", "now", "not before this; without an offset it is UTC"),
    "timeout": ("whole number > 0, milliseconds", "config `job_timeout`",
                "kill the run after this long"),
    "tags": ("list of strings", "`[]`", "labels; filter with `list --tag T`"),
    "queue": ("name: letters, digits, `-`, `_`, `.`; at most 64 characters", "`default`",
              "the named queue; workers claim from the queues they serve"),
    "unique_key": ("string, at most 255 characters", "none",
                   "at most one unfinished job per key"),
    "after": ("list of job ids", "`[]`", "run only after all of them completed"),
    "retry_on": ("list of exit codes 1-255", "config `retry_on`",
                 "only these exit codes are retried; other failures go to dead at once"),
    "no_retry_on": ("list of exit codes 1-255", "config `no_retry_on`",
                    "these exit codes go to dead at once; other failures are retried"),
    "backoff_base": ("number, 0 < b ≤ 100", "config `backoff_base`",
                     "this job's retry k waits `b ** k` seconds"),
    "cwd": ("absolute path", "the worker's directory", "the directory the command runs in"),
    "env": ('object `{"NAME": "value"}`, at most 64 KiB', "`{}`",
            "variables added to the command's environment"),
}
