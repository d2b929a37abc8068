"""The real app's command tree, for the in-process tests that go over every command."""

from __future__ import annotations

import typer

from queuectl import cli as queuectl_cli

COMMANDS = [["enqueue"], ["status"], ["list"], ["show"], ["logs"], ["metrics", "serve"],
            ["doctor"],
            ["migrate"], ["prune"], ["dashboard"], ["worker", "start"], ["worker", "stop"],
            ["dlq", "list"], ["dlq", "retry"], ["config", "set"], ["config", "get"],
            ["config", "list"], ["config", "show"], ["cancel"], ["signal"], ["pause"],
            ["resume"], ["retry"], ["wait"], ["queue", "list"], ["queue", "set"],
            ["queue", "pause"], ["queue", "resume"], ["queue", "remove"], ["cron", "add"],
            ["cron", "list"], ["cron", "remove"], ["cron", "pause"], ["cron", "resume"],
            ["cron", "run"], ["context", "list"], ["context", "use"], ["context", "show"]]
#: Groups that are commands too: a bare `queuectl metrics` prints the report (its callback
#: runs without a subcommand), `metrics serve` serves it.
RUNNABLE_GROUPS = [["metrics"]]
#: Commands people are not meant to type, hidden from help (`worker start` runs `worker run`
#: in each child).
INTERNAL = [["worker", "run"]]


def command_tree() -> tuple[list[list[str]], list[list[str]], dict[tuple[str, ...], list[str]]]:
    """(groups, commands, each group's subcommand names) of the real app, as argument paths;
    the root group is []."""
    groups: list[list[str]] = []
    commands: list[list[str]] = []
    names: dict[tuple[str, ...], list[str]] = {}

    def walk(command: object, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            commands.append(path)
            return
        groups.append(path)
        names[tuple(path)] = [n for n, c in subcommands.items() if not c.hidden]
        for name, sub in subcommands.items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(queuectl_cli.app), [])
    return groups, commands, names


GROUPS, LEAVES, SUBCOMMANDS = command_tree()
