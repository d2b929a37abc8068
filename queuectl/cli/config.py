"""`config set`, `config get` and `config list`: settings stored in the database."""

from __future__ import annotations

from typing import Any

import typer

from queuectl import errors, store
from queuectl.cli import complete, output
from queuectl.core import configkeys

__all__ = ["app"]

app = typer.Typer(help="Settings stored in the database, shared by every worker.",
                  no_args_is_help=True, rich_markup_mode=None)


_EXCLUSIVE = {"retry_on": "no_retry_on", "no_retry_on": "retry_on"}
#: The keys `configkeys.combination_problem` ties together, and how to get past it.
_TIED = {"lease_timeout": "lower heartbeat_interval first, or give a longer lease",
         "heartbeat_interval": "raise lease_timeout first, or give a shorter interval"}


def _show(key: str, value: configkeys.Value) -> str:
    return configkeys.display(key, value)


@app.command("set", context_settings={"ignore_unknown_options": True})
def set_(
    ctx: typer.Context,
    key: str = typer.Argument(..., metavar="KEY", autocompletion=complete.config_keys),
    value: str = typer.Argument(..., metavar="VALUE"),
) -> None:
    """Set KEY to VALUE.

    Values are validated; durations take ms, s, m, h or d, and a bare number is seconds.
    lease_timeout must be at least 2 heartbeat intervals, checked against the other's value.

    Example: queuectl config set job_timeout 10m
    """
    name, parsed = configkeys.parse(key, value)
    stored = store.load_config(ctx.obj.engine())
    other = _EXCLUSIVE.get(name)
    if other and parsed is not None and stored[other] is not None:
        raise errors.InvalidConfig(
            f"{other} is set; a job policy uses one of retry_on and no_retry_on, so unset it "
            f"first: queuectl config set {other} none")
    problem = configkeys.combination_problem({**stored, name: parsed})
    if problem and name in _TIED:
        raise errors.InvalidConfig(f"cannot set {name} to {_show(name, parsed)}: {problem}; "
                                   f"{_TIED[name]}")
    store.set_config(ctx.obj.engine(), key=name, value=parsed)
    typer.echo(f"{name} = {_show(name, parsed)}")


@app.command()
def get(ctx: typer.Context,
        key: str = typer.Argument(..., metavar="KEY",
                                  autocompletion=complete.config_keys)) -> None:
    """Print KEY's value.

    An unknown key is the same error as for `config set`.

    Example: queuectl config get poll_interval
    """
    name = configkeys.canonical_key(key)
    values = store.load_config(ctx.obj.engine())
    if name in _TIED:
        _warn_combination(values)
    typer.echo(f"{name} = {_show(name, values[name])}")


@app.command("show", help="Same as `config list`.\n\nExample: queuectl config show --json")
@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Every key with its value, default and meaning.

    `config show` is the same command. In --json, every duration is in seconds (job_timeout
    too) and `null` means none.

    Example: queuectl config list --json
    """
    values = store.load_config(ctx.obj.engine())
    _warn_combination(values)
    if as_json:
        output.emit_json({k: configkeys.in_seconds(k, v) for k, v in values.items()})
        return
    output.table(
        [[k.name, _show(k.name, values[k.name]), _show(k.name, k.default), k.help]
         for k in configkeys.KEYS.values()],
        ["KEY", "VALUE", "DEFAULT", "MEANING"],
    )


def _warn_combination(values: dict[str, Any]) -> None:
    """A pair stored before `config set` refused it: say what the fleet uses instead."""
    problem = configkeys.combination_problem(values)
    if problem:
        lease = configkeys.format_value(configkeys.lease_seconds(values))
        typer.echo(f"warning: {problem}; workers use a {lease}s lease until `queuectl config "
                   "set lease_timeout` gives a longer one", err=True)
