"""The `queuectl` command line: thin typer commands, one module per group.

Each command parses its arguments, makes one call into the library and formats the result.
Errors cross one boundary (`QueuectlGroup.invoke` and `main`): one line on stderr, the
error's exit code, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from queuectl import errors
from queuectl.cli import admin, config, dashboard, dlq, jobs, workers
from queuectl.cli.context import State

__all__ = ["app", "main"]


# Typer may vendor click; take its exception classes from typer's own BadParameter.
_USAGE_ERROR: Any = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_ERROR: Any = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class QueuectlGroup(typer.core.TyperGroup):
    """Root group that turns QueuectlError into one line on stderr and its exit code."""

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except errors.QueuectlError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=exc.exit_code) from None


app = typer.Typer(
    cls=QueuectlGroup,
    help="queuectl: a background job queue for shell commands, stored in PostgreSQL.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    database_url: str = typer.Option(
        None, "--database-url", metavar="URL",
        help="PostgreSQL URL (else QUEUECTL_DATABASE_URL, DATABASE_URL, libpq defaults).",
    ),
) -> None:
    """queuectl: a background job queue for shell commands, stored in PostgreSQL."""
    ctx.obj = State(database_url)


jobs.register(app)
app.add_typer(workers.app, name="worker")
app.add_typer(dlq.app, name="dlq")
app.add_typer(config.app, name="config")
admin.register(app)
dashboard.register(app)


# Variables whose values become text sent to PostgreSQL or over HTTP.
_TEXT_VARIABLES = ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "QUEUECTL_DASHBOARD_TOKEN")


def _undecodable(args: list[str]) -> str | None:
    """Which argument or variable holds bytes that are not UTF-8 (Python keeps them as lone
    surrogates, which would fail much later with a traceback), or None."""
    named = [(None, a) for a in args]
    named += [(f"${v}", os.environ[v]) for v in _TEXT_VARIABLES if v in os.environ]
    for name, value in named:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return name or f"argument '{shown}'"
    return None


def main() -> None:
    """Entry point: run the app with one error boundary for usage errors too."""
    problem = _undecodable(sys.argv[1:])
    if problem:
        typer.echo(f"error: {problem} is not valid UTF-8 text", err=True)
        sys.exit(2)
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="queuectl", standalone_mode=False)
    except _USAGE_ERROR as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except _CLICK_ERROR as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
