"""`doctor`: which database this shell talks to, and whether it is in a state to work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer

from queuectl import db, settings
from queuectl.cli import output
from queuectl.db import migrate
from queuectl.store import quick

__all__ = ["register"]

# Leases and schedules use the server's clock; a host this far off confuses people reading
# times, so doctor flags it.
_SKEW_WARNING = 5.0


def _client_file_line(target: settings.DatabaseTarget) -> str:
    path = settings.client_file()
    if not path.exists():
        return f"{path} (none)"
    if target.context is not None:
        return f"{path} (in use)"
    return f"{path} (present, but {target.source} takes precedence)"


def _context_line(target: settings.DatabaseTarget) -> str:
    if target.context is None:
        return "none"
    return f"{target.context} (home {settings.data_dir(target)})"


def _schema_line(revision: str | None) -> tuple[str, bool]:
    if revision == migrate.SCHEMA_HEAD:
        return f"revision {revision} (latest)", True
    if revision is None:
        return "none: run `queuectl migrate` (any command does it unless "\
               "QUEUECTL_AUTO_MIGRATE=0)", False
    return f"revision {revision}, this queuectl expects {migrate.SCHEMA_HEAD}: run " \
           "`queuectl migrate` or upgrade queuectl", False


def _skew_line(server_now: datetime, local_now: datetime, round_trip: float) -> str:
    skew = (server_now - local_now) / timedelta(seconds=1)
    way = "ahead of" if skew >= 0 else "behind"
    line = f"server clock is {abs(skew):.3f}s {way} this host (±{round_trip / 2:.3f}s)"
    return line + ("  WARNING: sync the clocks (NTP)" if abs(skew) > _SKEW_WARNING else "")


def doctor(ctx: typer.Context) -> None:
    """Which database, and its server, schema, workers and clock.

    Shows where the database URL came from, the server version, the schema revision, the
    live workers and the clock skew between this host and the server. Exits 1 if the schema
    is not current.

    Example: queuectl doctor
    """
    target = ctx.obj.target()
    rows = [("context", _context_line(target)), ("database", target.where),
            ("URL from", target.source), ("client file", _client_file_line(target))]
    _print(rows)
    with ctx.obj.connection(migrate_schema=False) as conn:
        before = datetime.now(UTC)
        info = quick.server_info(conn)
        local_now = before + timedelta(seconds=info.round_trip / 2)
        schema, current = _schema_line(info.revision)
        status = quick.status(conn) if info.revision else None
        server = db.reached(conn)
        standbys = quick.replicas(conn)
    workers = status.workers if status else []
    hosts = sorted({w.host for w in workers})
    rows = [
        ("connected to", server),
        *_replica_rows(standbys),
        ("failover", _failover_line(target, standbys)),
        ("server", f"PostgreSQL {info.version}"),
        ("schema", schema),
        ("live workers", f"{len(workers)}" + (f" on {', '.join(hosts)}" if hosts else "")),
        *_claiming_rows(status),
        ("clock", _skew_line(info.now, local_now, info.round_trip)),
    ]
    _print(rows)
    if not current:
        raise typer.Exit(code=1)


def _replica_rows(standbys: list[quick.Replica]) -> list[tuple[str, str]]:
    """One row per replica of the server reached: name, address, state, sync, lag."""
    if not standbys:
        return [("replicas", "none streaming from this server")]
    rows = []
    for n, r in enumerate(standbys):
        lag = "lag unknown (needs pg_monitor)" if r.replay_lag is None and r.lag_bytes is None \
            else f"replay lag {r.replay_lag or 0:.3f}s, {r.lag_bytes or 0:,} bytes behind"
        where = f" at {r.address}" if r.address else ""
        rows.append(("replicas" if n == 0 else "",
                     f"{r.name or '(unnamed)'}{where}: {r.state or 'state unknown'}, "
                     f"{r.sync_state or '?'}, {lag}"))
    return rows


_STANDBY_ATTRS = ("read-only", "standby", "prefer-standby")


def _failover_line(target: settings.DatabaseTarget, standbys: list[quick.Replica]) -> str:
    """Whether this URL finds the new primary after a failover, and a warning when not."""
    import os

    attrs = (target.params.get("target_session_attrs")
             or os.environ.get("PGTARGETSESSIONATTRS") or "")
    shown = f"target_session_attrs={attrs}" if attrs else \
        "target_session_attrs=read-write, queuectl's default"
    hosts = target.hosts
    if attrs in _STANDBY_ATTRS:
        return (f"WARNING: {shown} asks for a standby; queuectl passes over read-only "
                "servers, so it may find none: use read-write or primary")
    if len(hosts) > 1:
        return (f"finds the primary after a failover: tries {len(hosts)} hosts in order and "
                f"takes the writable one ({shown})")
    if standbys:
        return ("WARNING: the URL names one host, so after a failover it finds the new "
                "primary only if that address moves with it (a virtual IP, or a proxy in "
                "front of the cluster): else list every node, "
                "postgresql://USER@node1:5432,node2:5432,node3:5432/DB")
    return "one host and no replica streaming from it: nothing to fail over to"


def _claiming_rows(status: quick.QuickStatus | None) -> list[tuple[str, str]]:
    """Whether the fleet claims (nothing without a schema to ask)."""
    if status is None:
        return []
    if status.claiming_paused_since is None:
        return [("claiming", "on")]
    return [("claiming", output.claiming_paused_line(status.claiming_paused_since,
                                                     status.claiming_paused_by)
             .removeprefix("claiming is "))]


def _print(rows: list[tuple[str, str]]) -> None:
    for key, value in rows:
        typer.echo(f"{key + ':':<14}{value}")


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command()(doctor)
