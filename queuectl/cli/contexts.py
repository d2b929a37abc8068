"""`context list`, `context use` and `context show`: the named queues of the client file
(`queuectl.clientfile`). Not to be confused with `cli/context.py`, the per-invocation state."""

from __future__ import annotations

import os

import typer

from queuectl import clientfile, errors, settings
from queuectl.cli import output

__all__ = ["app"]

app = typer.Typer(help="Named queues: which database this client talks to.\n\n"
                       "They live in the client file ~/.config/queuectl/config.toml "
                       "(./start.sh adds its own).", no_args_is_help=True,
                  rich_markup_mode=None)


def _where(name: str) -> str:
    try:
        return settings.resolve_database(context=name).where
    except errors.DatabaseUnavailable:
        return "(invalid URL)"


def _overridden(ctx: typer.Context) -> str | None:
    """What takes precedence over the client file's current context here, if anything."""
    if ctx.obj.database_url:
        return "--database-url"
    if ctx.obj.context:
        return "--context"
    for name in ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "QUEUECTL_CONTEXT"):
        if os.environ.get(name):
            return name
    return None


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The contexts of the client file; `*` marks the current one.

    Example: queuectl context list
    """
    parsed = clientfile.load(settings.client_file())
    if parsed is None:
        typer.echo(f"no client file at {settings.client_file()} (./start.sh writes one)",
                   err=True)
        return
    rows = [["*" if name == parsed.current else "", name, _where(name), c.home or "-"]
            for name, c in sorted(parsed.contexts.items())]
    if parsed.current == clientfile.LIBPQ:
        rows.append(["*", clientfile.LIBPQ, settings.LIBPQ_DEFAULTS, "-"])
    output.table(rows, ["CURRENT", "NAME", "DATABASE", "HOME"])
    if parsed.current is None:
        typer.echo("no current context: choose one with `queuectl context use NAME`",
                   err=True)
    override = _overridden(ctx)
    if override:
        typer.echo(f"note: {override} takes precedence over the current context here",
                   err=True)


@app.command()
def use(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME",
                               help=f"A context of `queuectl context list`, or "
                                    f"{clientfile.LIBPQ} for the libpq defaults."),
) -> None:
    """Make NAME the current context, in every terminal.

    The current context is the queue queuectl uses when nothing on the command line or in the
    environment names another.

    Example: queuectl context use queuectl
    """
    clientfile.use(settings.client_file(), name)
    where = settings.LIBPQ_DEFAULTS if name == clientfile.LIBPQ else _where(name)
    typer.echo(f"Current context: {name} ({where})")
    override = _overridden(ctx)
    if override:
        typer.echo(f"note: {override} takes precedence over it here", err=True)


@app.command()
def show(ctx: typer.Context) -> None:
    """The context this command line uses, its database and data directory.

    The same precedence as every command: --database-url, --context, QUEUECTL_DATABASE_URL,
    DATABASE_URL, QUEUECTL_CONTEXT, then the client file's current context.

    Example: queuectl --context other context show
    """
    target = ctx.obj.target()
    rows = [("context", target.context or f"none (URL from {target.source})"),
            ("database", target.where), ("URL from", target.source),
            ("home", str(settings.data_dir(target)))]
    for key, value in rows:
        typer.echo(f"{key + ':':<10}{value}")
