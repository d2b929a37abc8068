"""The `queuectl` command line: thin typer commands, one module per group.

Each command parses its arguments, makes one call into the library and formats the result.
Errors cross one boundary (`QueuectlGroup.invoke` and `QueuectlGroup.main`): one line on stderr, the
error's exit code, never a traceback; the message's control characters escaped (it may quote a
user's value).

Importing this package loads typer and queuectl's light modules only: SQLAlchemy, psycopg,
Alembic, FastAPI and the worker are imported by the commands that use them, so `--help`,
`--version` and completion answer at once (a test holds this).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from queuectl import __version__, errors
from queuectl.cli import (
    _typer,
    admin,
    config,
    contexts,
    control,
    cron,
    dashboard,
    dlq,
    doctor,
    jobs,
    logs,
    metrics,
    output,
    queues,
    workers,
)
from queuectl.cli.context import State

__all__ = ["app", "main"]


# Typer may vendor click; take its exception classes from typer's own BadParameter.
_USAGE_ERROR: Any = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_CLICK_ERROR: Any = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_typer.plain_arguments()
_typer.plain_strings()
# Bash falls back to file names when a completer offers nothing (`complete -o default`);
# no queuectl argument is a file, so the script queuectl prints leaves that out.
_BASH_COMPLETION = """
%(complete_func)s() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \\
                   COMP_CWORD=$COMP_CWORD \\
                   %(autocomplete_var)s=complete_bash $1 ) )
    return 0
}

complete -F %(complete_func)s %(prog_name)s
"""


class QueuectlGroup(typer.core.TyperGroup):
    """Root group that holds the CLI's one error boundary: a QueuectlError, a usage error or
    an interrupt becomes one line on stderr and its exit code, never a traceback.

    The boundary is `main` (what `queuectl` and typer's CliRunner both call), so tests run in
    process cross the same boundary as the real command."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except errors.QueuectlError as exc:
            typer.echo(f"error: {output.escape(str(exc))}", err=True)
            raise typer.Exit(code=exc.exit_code) from None

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None,
        complete_var: str | None = None, standalone_mode: bool = True, **extra: Any,
    ) -> NoReturn:
        """Run the command line `args` (else sys.argv[1:]) and exit with its code; always
        exits, like a standalone click command (`standalone_mode` is accepted, not used)."""
        from typer import _completion_shared

        _completion_shared._completion_scripts["bash"] = _BASH_COMPLETION
        argv = list(sys.argv[1:] if args is None else args)
        problem = _undecodable(argv)
        if problem:
            typer.echo(f"error: {problem} is not valid UTF-8 text", err=True)
            sys.exit(2)
        try:
            code = super().main(argv, prog_name or "queuectl", complete_var,
                                standalone_mode=False, **extra)
        except _USAGE_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `queuectl` (or group)
                typer.echo(exc.format_message())
                sys.exit(0)
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            typer.echo(f"error: {output.escape(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except _CLICK_ERROR as exc:
            typer.echo(f"error: {output.escape(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=QueuectlGroup,
    help="queuectl: a background job queue for shell commands, stored in PostgreSQL.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"queuectl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    database_url: str = typer.Option(
        None, "--database-url", metavar="URL",
        help="PostgreSQL URL (else --context, QUEUECTL_DATABASE_URL, DATABASE_URL, "
             "QUEUECTL_CONTEXT, the client file's current context, libpq defaults).",
    ),
    context: str = typer.Option(
        None, "--context", metavar="NAME",
        help="Use the queue of this context in the client file ~/.config/queuectl/config.toml "
             "(see `queuectl context list`); `libpq` for the libpq defaults.",
    ),
    version: bool = typer.Option(
        False, "--version", "-V", is_eager=True, callback=_print_version,
        help="Print the version and exit."),
) -> None:
    """queuectl: a background job queue for shell commands, stored in PostgreSQL.

    Example: queuectl enqueue '{"command": "echo hi"}' && queuectl worker start
    """
    ctx.obj = State(database_url, context)


jobs.register(app)
control.register(app)
app.add_typer(workers.app, name="worker")
app.add_typer(dlq.app, name="dlq")
app.add_typer(config.app, name="config")
app.add_typer(queues.app, name="queue")
app.add_typer(cron.app, name="cron")
app.add_typer(contexts.app, name="context")
admin.register(app)
dashboard.register(app)
logs.register(app)
metrics.register(app)
doctor.register(app)


# Variables whose values become text sent to PostgreSQL or over HTTP.
_TEXT_VARIABLES = ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "QUEUECTL_CONTEXT",
                   "QUEUECTL_DASHBOARD_TOKEN")


def _undecodable(args: list[str]) -> str | None:
    """Which argument or variable holds bytes that are not UTF-8 (Python keeps them as lone
    surrogates, which would fail much later with a traceback), or None."""
    named: list[tuple[str | None, str]] = [(None, a) for a in args]
    named += [(f"${v}", os.environ[v]) for v in _TEXT_VARIABLES if v in os.environ]
    for name, value in named:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return name or f"argument '{shown}'"
    return None


def main() -> None:
    """Entry point: the app through its error boundary (`QueuectlGroup.main`)."""
    typer.main.get_command(app).main(prog_name="queuectl")
