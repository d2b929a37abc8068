"""Where the database URL and local paths come from. Reads the environment and the client
file; imports nothing heavier than the standard library, so every command can call it.

Database URL precedence: `--database-url`, then `--context NAME`, then `QUEUECTL_DATABASE_URL`,
then `DATABASE_URL`, then `QUEUECTL_CONTEXT`, then the client file's current context
(`$XDG_CONFIG_HOME/queuectl/config.toml`, by default `~/.config/queuectl/config.toml`, which
`./start.sh` writes; see `queuectl.clientfile`), then the libpq defaults (`PGHOST`, `PGPORT`,
`PGUSER`, database `PGDATABASE` or `queuectl`), but only when there is no client file: a client
file that names no queue, or a context it does not hold, is an error, never a silent fall
through to whatever server the libpq defaults reach. `--context libpq` (or `queuectl context
use libpq`) chooses the libpq defaults explicitly.

A missing database is created (CREATE DATABASE) only on a server somebody named: a URL from
`--database-url`, the environment or a context. On the libpq defaults it takes
`queuectl migrate --create-database` (`DatabaseTarget.may_create`).

The URL may carry one parameter of queuectl's own, removed before libpq sees the URL:
`prepared_statements=on|off` (default off). Server-side prepared statements break behind a
transaction pooler without prepared-statement support (PgBouncer < 1.22), so they are used only
when the URL says the server behind it keeps them: a direct connection, or PgBouncer >= 1.22
with `max_prepared_statements` set (psycopg's minimum). It lives in the URL because whether it
is safe depends on what the URL points at. Where only variables can be set (`./start.sh`,
docker-compose), `QUEUECTL_PREPARED_STATEMENTS=on|off` gives the default; the URL's switch wins.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from queuectl import clientfile, errors

__all__ = [
    "DatabaseTarget",
    "auto_migrate",
    "client_file",
    "connection_hint",
    "data_dir",
    "read_client_url",
    "resolve_database",
]

_DRIVER = "postgresql+psycopg"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_PREPARED = "prepared_statements"
_ENV_PREPARED = "QUEUECTL_PREPARED_STATEMENTS"
_SWITCH = {"on": True, "true": True, "yes": True, "1": True,
           "off": False, "false": False, "no": False, "0": False}
LIBPQ_DEFAULTS = "libpq defaults (PGHOST/PGPORT)"


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database URL (`postgresql+psycopg://...`, without queuectl's own parameters),
    where it came from (for error messages), and whether server-side prepared statements may be
    used on it; the client file's context it came from (`context`, `home`) if any; whether a
    missing database may be created on it (`may_create`).

    `dsn` may also be given as a SQLAlchemy URL object; it is kept as text."""

    dsn: str
    source: str
    prepared_statements: bool = False
    context: str | None = None
    home: str | None = None
    create_database: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.dsn, str):  # a SQLAlchemy URL from older callers
            text = self.dsn.render_as_string(hide_password=False)
            object.__setattr__(self, "dsn", text)

    @property
    def conninfo(self) -> str:
        """The URL as libpq (psycopg) takes it."""
        return "postgresql://" + self.dsn.split("://", 1)[1]

    @property
    def params(self) -> dict[str, str]:
        """The URL's connection parameters as libpq reads them (`host`, `port`, `hostaddr`,
        `dbname`, `user`, the query's others; a query parameter wins over the same one in
        the authority or path), percent-decoded; `password` included."""
        from urllib.parse import parse_qsl, unquote, urlsplit  # loads ipaddress: only when needed

        parts = urlsplit(self.conninfo)
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        params: dict[str, str] = {}
        if userinfo:
            user, colon, password = userinfo.partition(":")
            params["user"] = unquote(user)
            if colon:
                params["password"] = unquote(password)
        if hostlist:
            specs = [_host_and_port(spec) for spec in hostlist.split(",")]
            if any(host for host, _ in specs):
                params["host"] = ",".join(unquote(host) for host, _ in specs)
            if any(port for _, port in specs):
                params["port"] = ",".join(port for _, port in specs)
        if parts.path.lstrip("/"):
            params["dbname"] = unquote(parts.path.lstrip("/"))
        params.update(parse_qsl(parts.query, keep_blank_values=True))
        return params

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every `host:port` libpq will try, in order, as the URL (else `PGHOST`/`PGPORT`)
        gives them: the comma list in the URL or in its `host=`/`port=` parameters."""
        params = self.params
        names = (params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST")
                 or "").split(",")
        ports = (params.get("port") or os.environ.get("PGPORT") or "").split(",")
        if len(ports) == 1:
            ports *= len(names)
        if len(ports) != len(names):  # libpq refuses it; show what was given
            return tuple(names)
        default_port = os.environ.get("PGPORT") or "5432"
        return tuple(f"{_shown_host(name)}:{port or default_port}"
                     for name, port in zip(names, ports, strict=True))

    @property
    def database(self) -> str:
        """The database name the URL gives ("" when libpq would default it)."""
        return self.params.get("dbname", "")

    @property
    def where(self) -> str:
        """`host:port,host:port/dbname`: every host libpq may try, for messages; never a
        password."""
        return f"{','.join(self.hosts)}/{self.database}"

    def with_database(self, name: str) -> DatabaseTarget:
        """The same server(s) and parameters, database `name`."""
        from urllib.parse import parse_qsl, quote, urlencode, urlsplit

        parts = urlsplit(self.dsn)
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                           if k != "dbname"])
        dsn = f"{parts.scheme}://{parts.netloc}/{quote(name, safe='')}"
        if query:
            dsn += f"?{query}"
        return dataclasses.replace(self, dsn=dsn)

    @property
    def may_create(self) -> bool:
        """Whether a missing database may be created: somebody named this server (a flag,
        the environment, a context), or `migrate --create-database` asked for it."""
        return self.create_database or self.source != LIBPQ_DEFAULTS

    def render(self) -> str:
        """The URL as `--database-url` takes it, queuectl's parameters included, for passing
        to another process."""
        url = self.conninfo
        # Off needs saying only where the other process would read QUEUECTL_PREPARED_STATEMENTS
        # as on.
        if self.prepared_statements or _prepared_from_env():
            url += ("&" if "?" in url else "?") + \
                f"{_PREPARED}={'on' if self.prepared_statements else 'off'}"
        return url


def _host_and_port(spec: str) -> tuple[str, str]:
    """`host[:port]` or `[v6 address][:port]` from a URL's host list."""
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = spec.partition(":")
    return host, port


def _shown_host(name: str) -> str:
    if not name:
        return "local socket"
    return f"[{name}]" if ":" in name and not name.startswith("/") else name


def resolve_database(cli_url: str | None = None,
                     context: str | None = None) -> DatabaseTarget:
    """Pick the database URL by precedence (the module docstring) and normalise it to the
    psycopg 3 driver. A context the client file does not hold, or a client file that names no
    current context, raises DatabaseUnavailable (exit 2)."""
    if cli_url and context:
        raise errors.DatabaseUnavailable("give --database-url or --context, not both")
    if cli_url:
        return _target(cli_url, "--database-url")
    if context:
        return _from_context(context, "--context")
    for source in ("QUEUECTL_DATABASE_URL", "DATABASE_URL"):
        raw = os.environ.get(source)
        if raw:
            return _target(raw, source)
    named = os.environ.get("QUEUECTL_CONTEXT")
    if named:
        return _from_context(named, "QUEUECTL_CONTEXT")
    parsed = clientfile.load(client_file())
    if parsed is None:
        return _libpq_defaults(None)
    if parsed.current is None:
        raise errors.DatabaseUnavailable(
            f"{parsed.path} names no current queue (contexts: {parsed.known()}): choose one "
            f"with `queuectl context use NAME` or --context NAME, `{clientfile.LIBPQ}` for "
            "the libpq defaults, or pass --database-url")
    return _from_context(parsed.current, "current", parsed)


def _from_context(name: str, chosen_by: str,
                  parsed: clientfile.ClientFile | None = None) -> DatabaseTarget:
    if name == clientfile.LIBPQ:
        return _libpq_defaults(clientfile.LIBPQ)
    parsed = parsed or clientfile.load(client_file())
    ctx = parsed.contexts.get(name) if parsed is not None else None
    if parsed is None or ctx is None:
        raise errors.DatabaseUnavailable(
            f"{clientfile.unknown(parsed, name)}, named by {chosen_by}")
    target = _target(ctx.database_url, f"context {name} in {parsed.path}")
    return dataclasses.replace(target, context=name, home=ctx.home)


def _libpq_defaults(context: str | None) -> DatabaseTarget:
    from urllib.parse import quote

    database = quote(os.environ.get("PGDATABASE") or "queuectl", safe="")
    return DatabaseTarget(f"{_DRIVER}:///{database}", LIBPQ_DEFAULTS, _prepared_from_env(),
                          context=context)


def connection_hint(target: DatabaseTarget) -> str:
    """What to do about a server that does not answer, fitted to where its URL came from."""
    if target.source == LIBPQ_DEFAULTS:
        if target.context == clientfile.LIBPQ:
            return "start a local server, or choose a queue: `queuectl context list`"
        return ("no queue is named, so this is the libpq defaults' server: pass "
                "--database-url, set QUEUECTL_DATABASE_URL, or run ./start.sh")
    if target.context is not None:
        return (f"is context {target.context}'s server running (./start.sh in its checkout "
                "starts it)? another queue: --context NAME (see `queuectl context list`)")
    if target.source == "--database-url":
        return "check the URL given with --database-url"
    return f"check {target.source}, or unset it to use the client file's queue"


def _target(raw: str, source: str) -> DatabaseTarget:
    dsn, prepared = _split_switch(_normalise(raw, source), source)
    return DatabaseTarget(dsn, source, prepared)


def _split_switch(dsn: str, source: str) -> tuple[str, bool]:
    """`dsn` without `prepared_statements=...`, and that switch's value (default:
    `QUEUECTL_PREPARED_STATEMENTS`, else off)."""
    default = _prepared_from_env()
    if "?" not in dsn or _PREPARED not in dsn:
        return dsn, default
    from urllib.parse import parse_qsl, urlencode

    base, query = dsn.split("?", 1)
    pairs = parse_qsl(query, keep_blank_values=True)
    values = [v for k, v in pairs if k == _PREPARED]
    value = _SWITCH.get(values[0].strip().lower()) if len(values) == 1 else None
    if value is None:
        raise errors.DatabaseUnavailable(
            f"invalid {_PREPARED}={'&'.join(values)!r} in the database URL from {source}: "
            "use on or off, once")
    rest = urlencode([(k, v) for k, v in pairs if k != _PREPARED])
    return (f"{base}?{rest}" if rest else base), value


def _prepared_from_env() -> bool:
    """`QUEUECTL_PREPARED_STATEMENTS=on|off` (unset or empty: off), for environments that set
    variables but not the URL's parameters (start.sh, compose); the URL's switch wins."""
    raw = os.environ.get(_ENV_PREPARED, "").strip()
    if not raw:
        return False
    value = _SWITCH.get(raw.lower())
    if value is None:
        raise errors.DatabaseUnavailable(f"invalid {_ENV_PREPARED}={raw!r}: use on or off")
    return value


def _normalise(raw: str, source: str) -> str:
    match = _SCHEME.match(raw.strip())
    if not match:
        raise errors.DatabaseUnavailable(
            f"invalid database URL in {source}: expected postgresql://user@host:port/dbname")
    scheme, rest = match.groups()
    if scheme.lower().split("+")[0] not in ("postgresql", "postgres"):
        raise errors.DatabaseUnavailable(
            f"unsupported database URL scheme {scheme!r} in {source}: "
            "queuectl needs postgresql://user@host:port/dbname")
    return f"{_DRIVER}://{rest}"


def client_file() -> Path:
    """The per-user client file: `$XDG_CONFIG_HOME/queuectl/config.toml` (default
    `~/.config/queuectl/config.toml`)."""
    return clientfile.path()


def read_client_url(path: Path) -> str | None:
    """The current context's `database_url` in the client file at `path` (the old file's
    top-level `database_url` included), or None when there is none."""
    parsed = clientfile.load(path)
    if parsed is None or parsed.current not in parsed.contexts:
        return None
    return parsed.contexts[parsed.current].database_url


def auto_migrate() -> bool:
    """False when `QUEUECTL_AUTO_MIGRATE` is 0/false/no/off."""
    value = os.environ.get("QUEUECTL_AUTO_MIGRATE", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def data_dir(target: DatabaseTarget | None = None) -> Path:
    """Directory for daemon pid files and logs: `QUEUECTL_HOME`, else the `home` of the
    context `target` came from (so every terminal on one queue agrees), else `~/.queuectl`."""
    home = os.environ.get("QUEUECTL_HOME") or (target.home if target is not None else None)
    return Path(home or Path.home() / ".queuectl")
