"""`migrate` and `prune`."""

from __future__ import annotations

import typer

from queuectl import errors, store
from queuectl.cli import progress
from queuectl.core import configkeys
from queuectl.db import migrate

__all__ = ["register"]


def migrate_(
    ctx: typer.Context,
    create_database: bool = typer.Option(
        False, "--create-database",
        help="Create the database if it is missing, even on the libpq defaults' server (a "
             "URL from --database-url, the environment or a context creates it anyway)."),
) -> None:
    """Bring the database schema to the latest version.

    Safe to run concurrently: runs wait for each other under an advisory lock.

    Example: queuectl migrate --create-database
    """
    if create_database:
        ctx.obj.allow_create_database()
    engine = ctx.obj.engine(migrate_schema=False)
    revision = migrate.migrate(engine)
    typer.echo(f"Database schema is at revision {revision} (latest)")


def prune(
    ctx: typer.Context,
    older_than: str = typer.Option(
        None, "--older-than", metavar="DURATION",
        help="Delete completed/dead jobs finished before this long ago (default: config "
             "retention), e.g. 7d, 12h."),
) -> None:
    """Delete old finished jobs and metrics.

    Example: queuectl prune --older-than 30d
    """
    engine = ctx.obj.engine()
    if older_than is None:
        seconds = store.load_config(engine)["retention"]
        if seconds is None:
            typer.echo("retention is off (config retention = none); nothing pruned")
            return
    else:
        try:
            _, seconds = configkeys.parse("retention", older_than)
        except errors.InvalidConfig as exc:
            detail = str(exc).partition(": ")[2]
            raise typer.BadParameter(detail, param_hint="'--older-than'") from None
        if seconds is None:
            raise typer.BadParameter("give a positive duration such as 7d or 12h",
                                     param_hint="'--older-than'")
    with progress.bar("pruning"):  # the store deletes in batches without reporting them
        assert isinstance(seconds, float | int)  # retention is a duration
        pruned = store.prune(engine, older_than=float(seconds))
    assert pruned is not None  # waited for the lock
    jobs, metrics = pruned
    typer.echo(f"Pruned {jobs} finished job(s) and {metrics} metric row(s)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("migrate")(migrate_)
    app.command()(prune)
