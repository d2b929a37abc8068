"""Where the database URL and local paths come from. Reads the environment and the client
file; imports nothing heavier than the standard library, so every command can call it.

Database URL precedence: `--database-url`, then `QUEUECTL_DATABASE_URL`, then `DATABASE_URL`,
then the client file (`database_url` in `$XDG_CONFIG_HOME/queuectl/config.toml`, by default
`~/.config/queuectl/config.toml`, which `./start.sh` writes), then the libpq defaults (`PGHOST`,
`PGPORT`, `PGUSER`, database `PGDATABASE` or `queuectl`).

The URL may carry one parameter of queuectl's own, removed before libpq sees the URL:
`prepared_statements=on|off` (default off). Server-side prepared statements break behind a
transaction pooler without prepared-statement support (PgBouncer < 1.22), so they are used only
when the URL says the server behind it keeps them: a direct connection, or PgBouncer >= 1.22
with `max_prepared_statements` set (psycopg's minimum). It lives in the URL because whether it
is safe depends on what the URL points at.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queuectl import errors

__all__ = [
    "DatabaseTarget",
    "auto_migrate",
    "client_file",
    "data_dir",
    "read_client_url",
    "resolve_database",
]

_DRIVER = "postgresql+psycopg"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_PREPARED = "prepared_statements"
_SWITCH = {"on": True, "true": True, "yes": True, "1": True,
           "off": False, "false": False, "no": False, "0": False}
LIBPQ_DEFAULTS = "libpq defaults (PGHOST/PGPORT)"


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database URL (`postgresql+psycopg://...`, without queuectl's own parameters),
    where it came from (for error messages), and whether server-side prepared statements may be
    used on it.

    `dsn` may also be given as a SQLAlchemy URL object; it is kept as text."""

    dsn: str
    source: str
    prepared_statements: bool = False

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
        return DatabaseTarget(dsn, self.source, self.prepared_statements)

    def render(self) -> str:
        """The URL as `--database-url` takes it, queuectl's parameters included, for passing
        to another process."""
        url = self.conninfo
        if self.prepared_statements:
            url += ("&" if "?" in url else "?") + f"{_PREPARED}=on"
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


def resolve_database(cli_url: str | None = None) -> DatabaseTarget:
    """Pick the database URL by precedence and normalise it to the psycopg 3 driver."""
    for source, raw in (
        ("--database-url", cli_url),
        ("QUEUECTL_DATABASE_URL", os.environ.get("QUEUECTL_DATABASE_URL")),
        ("DATABASE_URL", os.environ.get("DATABASE_URL")),
    ):
        if raw:
            return _target(raw, source)
    path = client_file()
    raw = read_client_url(path)
    if raw:
        return _target(raw, str(path))
    from urllib.parse import quote

    database = quote(os.environ.get("PGDATABASE") or "queuectl", safe="")
    return DatabaseTarget(f"{_DRIVER}:///{database}", LIBPQ_DEFAULTS)


def _target(raw: str, source: str) -> DatabaseTarget:
    dsn, prepared = _split_switch(_normalise(raw, source), source)
    return DatabaseTarget(dsn, source, prepared)


def _split_switch(dsn: str, source: str) -> tuple[str, bool]:
    """`dsn` without `prepared_statements=...`, and that switch's value (default off)."""
    if "?" not in dsn or _PREPARED not in dsn:
        return dsn, False
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
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "queuectl" / "config.toml"


def read_client_url(path: Path) -> str | None:
    """`database_url` from the client file at `path`, or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise errors.DatabaseUnavailable(f"cannot read {path}: {exc.strerror}") from None
    import tomllib  # only when the file exists

    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise errors.DatabaseUnavailable(f"{path} is not valid TOML: {exc}") from None
    value = data.get("database_url")
    if value is not None and not isinstance(value, str):
        raise errors.DatabaseUnavailable(f"{path}: database_url must be a string")
    return value or None


def auto_migrate() -> bool:
    """False when `QUEUECTL_AUTO_MIGRATE` is 0/false/no/off."""
    value = os.environ.get("QUEUECTL_AUTO_MIGRATE", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def data_dir() -> Path:
    """Directory for daemon pid files and logs: `QUEUECTL_HOME` or `~/.queuectl`."""
    return Path(os.environ.get("QUEUECTL_HOME") or Path.home() / ".queuectl")
