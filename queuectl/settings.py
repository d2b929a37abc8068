"""Where the database URL and local paths come from. No I/O besides reading the environment.

Database URL precedence: `--database-url`, then `QUEUECTL_DATABASE_URL`, then `DATABASE_URL`,
then the libpq defaults (`PGHOST`, `PGPORT`, `PGUSER`, database `PGDATABASE` or `queuectl`).

The URL may carry one parameter of queuectl's own, removed before libpq sees the URL:
`prepared_statements=on|off` (default off). Server-side prepared statements break behind a
transaction pooler without prepared-statement support (PgBouncer < 1.21), so they are used only
when the URL says the server behind it keeps them: a direct connection, or PgBouncer >= 1.22
with `max_prepared_statements` set (psycopg's minimum).
It lives in the URL because whether it is safe depends on what the URL points at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from queuectl import errors

__all__ = ["DatabaseTarget", "auto_migrate", "data_dir", "resolve_database"]

_DRIVER = "postgresql+psycopg"
_PREPARED = "prepared_statements"
_SWITCH = {"on": True, "true": True, "yes": True, "1": True,
           "off": False, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class DatabaseTarget:
    """A resolved database URL (without queuectl's own parameters), where it came from (for
    error messages), and whether server-side prepared statements may be used on it."""

    url: URL
    source: str
    prepared_statements: bool = False

    @property
    def where(self) -> str:
        """`host:port/dbname` as libpq will resolve it, for messages."""
        host = self.url.host or os.environ.get("PGHOST") or "local socket"
        port = self.url.port or os.environ.get("PGPORT") or 5432
        return f"{host}:{port}/{self.url.database or ''}"

    def render(self) -> str:
        """The URL as `--database-url` takes it, queuectl's parameters included, for passing
        to another process."""
        url = self.url.set(drivername="postgresql")
        if self.prepared_statements:
            url = url.update_query_dict({_PREPARED: "on"})
        return url.render_as_string(hide_password=False)


def resolve_database(cli_url: str | None = None) -> DatabaseTarget:
    """Pick the database URL by precedence and normalise it to the psycopg 3 driver."""
    for source, raw in (
        ("--database-url", cli_url),
        ("QUEUECTL_DATABASE_URL", os.environ.get("QUEUECTL_DATABASE_URL")),
        ("DATABASE_URL", os.environ.get("DATABASE_URL")),
    ):
        if raw:
            url = _normalise(raw, source)
            return DatabaseTarget(url.difference_update_query([_PREPARED]), source,
                                  _prepared_statements(url, source))
    database = os.environ.get("PGDATABASE") or "queuectl"
    return DatabaseTarget(URL.create(_DRIVER, database=database), "libpq defaults (PGHOST/PGPORT)")


def _normalise(raw: str, source: str) -> URL:
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise errors.DatabaseUnavailable(
            f"invalid database URL in {source}: expected postgresql://user@host:port/dbname"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise errors.DatabaseUnavailable(
            f"unsupported database URL scheme {url.drivername!r} in {source}: "
            "queuectl needs postgresql://user@host:port/dbname"
        )
    return url.set(drivername=_DRIVER)


def _prepared_statements(url: URL, source: str) -> bool:
    raw = url.query.get(_PREPARED, "off")
    value = _SWITCH.get(raw.strip().lower()) if isinstance(raw, str) else None
    if value is None:
        raise errors.DatabaseUnavailable(
            f"invalid {_PREPARED}={raw!r} in the database URL from {source}: use on or off")
    return value


def auto_migrate() -> bool:
    """False when `QUEUECTL_AUTO_MIGRATE` is 0/false/no/off."""
    value = os.environ.get("QUEUECTL_AUTO_MIGRATE", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def data_dir() -> Path:
    """Directory for daemon pid files and logs: `QUEUECTL_HOME` or `~/.queuectl`."""
    return Path(os.environ.get("QUEUECTL_HOME") or Path.home() / ".queuectl")
