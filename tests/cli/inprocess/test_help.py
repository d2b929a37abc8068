"""`--version`, a bare `queuectl`, and the help of every command group and command, in
process: none of it needs a database. (Moved from tests/cli/test_conventions.py, which keeps
`--version` through the real entry point.)"""

from __future__ import annotations

import re

import pytest

from queuectl import __version__
from tests.cli.inprocess.tree import (
    COMMANDS,
    GROUPS,
    INTERNAL,
    LEAVES,
    RUNNABLE_GROUPS,
    SUBCOMMANDS,
)


def test_the_lists_here_name_every_command():
    assert sorted(LEAVES) == sorted(COMMANDS + INTERNAL)
    assert sorted(GROUPS) == [[], ["config"], ["context"], ["cron"], ["dlq"], ["metrics"],
                              ["queue"], ["worker"]]
    assert all(g in GROUPS for g in RUNNABLE_GROUPS)


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(cli, flag):
    result = cli(flag)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"queuectl {__version__}\n", "")


def test_bare_command_prints_help_and_exits_0(cli):
    result = cli()
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: queuectl ") and "Commands:" in result.stdout


@pytest.mark.parametrize("group", [g for g in GROUPS if g and g not in RUNNABLE_GROUPS],
                         ids=" ".join)
def test_a_bare_group_prints_its_help_and_exits_0(cli, group):
    result = cli(*group)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"Usage: queuectl {' '.join(group)} [OPTIONS] COMMAND")
    assert "Commands:" in result.stdout


@pytest.mark.parametrize("path", GROUPS + LEAVES, ids=lambda p: " ".join(p) or "queuectl")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_group_and_command_has_help(cli, path, flag):
    result = cli(*path, flag)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.startswith(" ".join(["Usage: queuectl", *path]) + " ")
    assert "Options:" in result.stdout and "-h, --help" in result.stdout
    for name in SUBCOMMANDS.get(tuple(path), []):
        assert f"  {name} " in result.stdout, (name, result.stdout)


@pytest.mark.parametrize("command", COMMANDS + RUNNABLE_GROUPS, ids=" ".join)
def test_help_reads_like_a_unix_tool(cli, command):
    result = cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert not re.search(r"<(bool|str|int|float)", text), text
    assert "Example: queuectl " in text
    summary = text.split("\n\n")[1].strip()
    assert summary and "\n" not in summary, text


def test_help_names_arguments_plainly_and_lists_states(cli):
    assert "Usage: queuectl enqueue [OPTIONS] JSON" in cli("enqueue", "--help").stdout
    assert "Usage: queuectl show [OPTIONS] ID" in cli("show", "--help").stdout
    listing = " ".join(cli("list", "--help").stdout.split())
    assert "pending, processing, completed, failed, dead" in listing


def test_help_wins_over_a_bad_argument(cli):
    result = cli("list", "--limit", "0", "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: queuectl list ")


@pytest.mark.parametrize("group", GROUPS, ids=lambda p: " ".join(p) or "queuectl")
def test_every_command_summary_fits_its_help_listing(cli, group):
    """Click cuts a summary that does not fit at 80 columns and ends it with `...`."""
    listing = cli(*group, "--help").stdout.split("Commands:", 1)[1]
    cut = [line.strip() for line in listing.splitlines() if line.rstrip().endswith("...")]
    assert cut == []
