"""The per-user client file: named queues (contexts), the way kubectl and docker keep them.

    current = "queuectl"                      the context commands use by default

    [contexts."queuectl"]                     one per queue: ./start.sh writes its own
    database_url = "postgresql://..."
    home = "/path/to/checkout/.queuectl/home" QUEUECTL_HOME for that queue (pid files, logs)
    checkout = "/path/to/checkout"            the checkout whose start.sh wrote it

The file of earlier versions held one `database_url` at the top level; it is read as the
context `default` (current when nothing else is), and the first write turns it into a
`[contexts."default"]` table, URL kept; when its comment names the checkout that wrote it, that
checkout's next start.sh records its queue under its own name instead (same checkout, same
queue) and its stop.sh --purge removes it.

Writes replace the whole file atomically (a temporary file in the same directory, then a
rename) under an exclusive `flock` on `config.toml.lock`, so two `./start.sh` runs at once
each add their own context and neither loses the other's. The file stays after its last
context is removed (`current` unset): a file that names no queue stops commands with an error
instead of letting them fall through to whatever server the libpq defaults reach.

Standard library only: start.sh and stop.sh run it as `python3 -m queuectl.clientfile` from
the checkout, before (or without) a virtualenv.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from queuectl import errors

__all__ = [
    "LEGACY",
    "LIBPQ",
    "ClientFile",
    "Context",
    "check_name",
    "forget",
    "load",
    "main",
    "path",
    "record",
    "update",
    "use",
]

#: The name the old single-URL file's `database_url` is read under.
LEGACY = "default"
#: The reserved name that chooses the libpq defaults (PGHOST, PGPORT, ...) explicitly.
LIBPQ = "libpq"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_FIELDS = ("database_url", "home", "checkout")
# The comment the old single-URL file carried above its database_url.
_OLD_MARKER = re.compile(r"^# written by (.+)/start\.sh; \./stop\.sh --purge removes it$", re.M)


@dataclass
class Context:
    """One named queue: its URL, its data directory and the checkout that wrote it."""

    name: str
    database_url: str
    home: str | None = None
    checkout: str | None = None


@dataclass
class ClientFile:
    """The parsed client file: the current context's name (None when unset) and the
    contexts by name; `extra` keeps top-level settings this version does not know."""

    path: Path
    current: str | None = None
    contexts: dict[str, Context] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def known(self) -> str:
        """The context names for a message: `a, b` or `none`."""
        return ", ".join(sorted(self.contexts)) or "none"


def path() -> Path:
    """`$XDG_CONFIG_HOME/queuectl/config.toml` (default `~/.config/queuectl/config.toml`)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "queuectl" / "config.toml"


def check_name(name: str) -> str:
    """`name` if it can name a context; else DatabaseUnavailable (exit 2)."""
    if not _NAME.match(name) or name == LIBPQ:
        raise errors.DatabaseUnavailable(
            f"invalid context name {name!r}: letters, digits, '.', '_' and '-' "
            f"(not {LIBPQ!r}, which means the libpq defaults)")
    return name


def load(file: Path) -> ClientFile | None:
    """The client file at `file`, or None when there is none; DatabaseUnavailable when it
    cannot be read or is not a client file."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise errors.DatabaseUnavailable(f"cannot read {file}: {exc.strerror}") from None
    import tomllib

    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise errors.DatabaseUnavailable(f"{file} is not valid TOML: {exc}") from None
    parsed = _parse(file, data)
    legacy = parsed.contexts.get(LEGACY)
    writer = _OLD_MARKER.search(text)
    if legacy is not None and legacy.checkout is None and writer:
        legacy.checkout = writer.group(1)  # the old start.sh's comment named its checkout
    return parsed


def _parse(file: Path, data: dict[str, Any]) -> ClientFile:
    parsed = ClientFile(file)
    current = data.pop("current", None)
    if current is not None and not isinstance(current, str):
        raise errors.DatabaseUnavailable(f"{file}: current must be a string")
    tables = data.pop("contexts", {})
    if not isinstance(tables, dict):
        raise errors.DatabaseUnavailable(f"{file}: contexts must be a table")
    for name, table in tables.items():
        parsed.contexts[name] = _context(file, name, table)
    legacy = data.pop("database_url", None)
    if legacy is not None and not isinstance(legacy, str):
        raise errors.DatabaseUnavailable(f"{file}: database_url must be a string")
    if legacy and LEGACY not in parsed.contexts:
        parsed.contexts[LEGACY] = Context(LEGACY, legacy)
        current = current or LEGACY
    parsed.current = current or None
    parsed.extra = data
    return parsed


def _context(file: Path, name: str, table: Any) -> Context:
    where = f"{file}: contexts.{name}"
    if not isinstance(table, dict):
        raise errors.DatabaseUnavailable(f"{where} must be a table")
    values = {k: table.get(k) for k in _FIELDS}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise errors.DatabaseUnavailable(f"{where}.{key} must be a string")
    url = values["database_url"]
    if not url:
        raise errors.DatabaseUnavailable(f"{where} has no database_url")
    return Context(name, url, values["home"], values["checkout"])


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}"
                         for c in escaped) + '"'


def _render(parsed: ClientFile) -> str:
    lines = ["# queuectl's client file: which queue `queuectl` uses in any terminal.",
             "# ./start.sh adds its own context, ./stop.sh --purge removes it; see",
             "# `queuectl context --help`."]
    for key, value in parsed.extra.items():
        if isinstance(value, str | bool | int | float):  # anything else cannot be kept
            text = _quote(value) if isinstance(value, str) else str(value).lower()
            lines.append(f"{key} = {text}")
    if parsed.current:
        lines.append(f"current = {_quote(parsed.current)}")
    for name in sorted(parsed.contexts):
        ctx = parsed.contexts[name]
        lines += ["", f"[contexts.{_quote(name)}]"]
        lines += [f"{key} = {_quote(getattr(ctx, key))}" for key in _FIELDS
                  if getattr(ctx, key) is not None]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _locked(file: Path) -> Iterator[None]:
    import fcntl

    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{file}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(parsed: ClientFile) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=parsed.path.name + ".", dir=parsed.path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # it may hold passwords
            out.write(_render(parsed))
        os.replace(tmp, parsed.path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def update(file: Path, change: Callable[[ClientFile], Any]) -> Any:
    """Apply `change` to the client file at `file` under the lock and write it back
    atomically; returns what `change` returned."""
    with _locked(file):
        parsed = load(file) or ClientFile(file)
        result = change(parsed)
        _write(parsed)
    return result


def _own_name(parsed: ClientFile, base: str, checkout: str) -> str:
    """This checkout's context: the one it wrote before, else `base`, else `base-HASH` when
    another checkout already holds `base` (two clones both called queuectl)."""
    for ctx in list(parsed.contexts.values()):
        if ctx.checkout == checkout and ctx.name == LEGACY:
            del parsed.contexts[LEGACY]  # this checkout's old entry: re-recorded under `base`
        elif ctx.checkout == checkout:
            return ctx.name
    if base not in parsed.contexts:
        return base
    import hashlib

    return f"{base}-{hashlib.sha1(checkout.encode()).hexdigest()[:6]}"


def record(file: Path, *, base: str, url: str, checkout: str, home: str | None) -> str:
    """Add or update the context of `checkout` (named `base`, see `_own_name`) and make it
    current; other contexts are kept. Returns the name. Characters a name cannot hold
    become '-'."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-._")[:50] or "queuectl"
    base = check_name(base if base != LIBPQ else f"{LIBPQ}-queue")

    def change(parsed: ClientFile) -> str:
        name = _own_name(parsed, base, checkout)
        parsed.contexts[name] = Context(name, url, home, checkout)
        parsed.current = name
        return name

    name: str = update(file, change)
    return name


def forget(file: Path, *, checkout: str) -> list[str]:
    """Remove the contexts `checkout` wrote (unsetting `current` if it was one of them);
    returns their names. The file itself stays."""
    if load(file) is None:
        return []

    def change(parsed: ClientFile) -> list[str]:
        gone = sorted(n for n, c in parsed.contexts.items() if c.checkout == checkout)
        for name in gone:
            del parsed.contexts[name]
        if parsed.current in gone:
            parsed.current = None
        return gone

    gone: list[str] = update(file, change)
    return gone


def use(file: Path, name: str) -> None:
    """Make `name` (a known context, or `libpq`) current; DatabaseUnavailable when unknown."""
    def change(parsed: ClientFile) -> None:
        if name != LIBPQ and name not in parsed.contexts:
            raise errors.DatabaseUnavailable(unknown(parsed, name))
        parsed.current = name

    update(file, change)


def unknown(parsed: ClientFile | None, name: str) -> str:
    """The message for a context name the client file does not hold."""
    where = parsed.path if parsed is not None else path()
    known = parsed.known() if parsed is not None else "none (no client file)"
    return f"no context {name!r} in {where} (known: {known}; {LIBPQ!r} for the libpq defaults)"


def main(argv: list[str]) -> int:
    """`record BASE URL CHECKOUT [HOME]` prints the context's name; `forget CHECKOUT` prints
    the removed names, one a line. For start.sh and stop.sh."""
    try:
        if argv[:1] == ["record"] and len(argv) in (4, 5):
            home = argv[4] if len(argv) == 5 else None
            print(record(path(), base=argv[1], url=argv[2], checkout=argv[3], home=home))
        elif argv[:1] == ["forget"] and len(argv) == 2:
            for name in forget(path(), checkout=argv[1]):
                print(name)
        else:
            print("usage: python -m queuectl.clientfile record BASE URL CHECKOUT [HOME] | "
                  "forget CHECKOUT", file=sys.stderr)
            return 2
    except errors.QueuectlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
