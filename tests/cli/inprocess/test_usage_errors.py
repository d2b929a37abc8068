"""Usage errors, in process and without a database: for every command a bad argument is one
`error:` line on stderr, exit 2, nothing on stdout and no traceback (the boundary of
`QueuectlGroup.main`). Bad values that are only found after connecting are in
test_commands.py, with a database."""

from __future__ import annotations

import pytest

from tests.cli.inprocess.tree import GROUPS, LEAVES


def usage_error(result, command: list[str]) -> str:
    """The one error line of a usage error (exit 2), which points at the command's help."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def pointed_at_help(line: str, command: list[str]) -> None:
    assert line.endswith(f" (see '{' '.join(['queuectl', *command])} --help')"), line


#: `config set KEY VALUE` takes what looks like an option as a value (`config set x -1`).
TAKES_OPTIONS_AS_VALUES = [["config", "set"]]


@pytest.mark.parametrize("command", [c for c in LEAVES if c not in TAKES_OPTIONS_AS_VALUES],
                         ids=" ".join)
def test_an_unknown_option_is_one_line_exit_2(cli, command):
    line = usage_error(cli(*command, "--no-such-option"), command)
    assert "No such option: --no-such-option" in line
    pointed_at_help(line, command)


def test_config_set_takes_a_dash_value_as_a_value(cli):
    line = usage_error(cli("config", "set", "--no-such-option"), ["config", "set"])
    assert "Missing argument 'VALUE'" in line
    line = usage_error(cli("config", "set", "--no-such-option", "1"), ["config", "set"])
    assert "unknown config key '--no-such-option'" in line


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: " ".join(g) or "queuectl")
def test_an_unknown_command_is_one_line_exit_2(cli, group):
    line = usage_error(cli(*group, "nosuch"), group)
    assert "No such command 'nosuch'" in line
    pointed_at_help(line, group)


REQUIRED = [["enqueue"], ["show"], ["cancel"], ["signal"], ["signal", "x"], ["retry"], ["wait"],
            ["logs"], ["config", "set"], ["config", "set", "max_retries"], ["config", "get"],
            ["queue", "set"], ["queue", "pause"], ["queue", "resume"], ["queue", "remove"],
            ["cron", "add"], ["cron", "add", "x"], ["cron", "add", "x", "@daily"],
            ["cron", "remove"],
            ["cron", "pause"], ["cron", "resume"], ["cron", "run"]]


@pytest.mark.parametrize("args", REQUIRED, ids=" ".join)
def test_a_missing_argument_is_one_line_exit_2(cli, args):
    command = args[:2] if args[0] in {"config", "queue", "cron"} else args[:1]
    line = usage_error(cli(*args), command)
    assert "Missing argument" in line
    pointed_at_help(line, command)


def test_every_command_with_a_required_argument_is_in_the_list():
    leaves_with_arguments = {tuple(a[:2] if a[0] in {"config", "queue", "cron"} else a[:1])
                             for a in REQUIRED}
    assert leaves_with_arguments == {
        ("enqueue",), ("show",), ("cancel",), ("signal",), ("retry",), ("wait",), ("logs",),
        ("config", "set"), ("config", "get"), ("queue", "set"), ("queue", "pause"),
        ("queue", "resume"), ("queue", "remove"), ("cron", "add"), ("cron", "remove"),
        ("cron", "pause"), ("cron", "resume"), ("cron", "run")}


NO_ARGUMENTS = [["status"], ["migrate"], ["prune"], ["dashboard"], ["metrics", "serve"],
                ["doctor"], ["list"], ["worker", "start"], ["worker", "stop"], ["worker", "run"],
                ["dlq", "list"], ["config", "list"], ["config", "show"], ["queue", "list"],
                ["cron", "list"]]


@pytest.mark.parametrize("command", NO_ARGUMENTS, ids=" ".join)
def test_an_extra_argument_is_one_line_exit_2(cli, command):
    line = usage_error(cli(*command, "extra"), command)
    assert "unexpected extra argument" in line and "(extra)" in line
    pointed_at_help(line, command)


BAD_VALUES = [
    (["list", "--limit", "0"], "'--limit'"),
    (["list", "--limit", "x"], "valid integer"),
    (["list", "--queue", "no way"], "queue name"),
    (["logs", "x", "--tail", "-1"], "'--tail'"),
    (["logs", "x", "--tail", "x"], "valid integer"),
    (["metrics", "--minutes", "0"], "'--minutes'"),
    (["metrics", "--minutes", "x"], "valid integer"),
    (["metrics", "serve", "--port", "0"], "'--port'"),
    (["metrics", "serve", "--minutes", "0"], "'--minutes'"),
    (["wait", "x", "--timeout", "-1"], "'--timeout'"),
    (["wait", "x", "--timeout", "nan"], "'--timeout'"),
    (["worker", "start", "--count", "0"], "'--count'"),
    (["worker", "start", "--count", "257"], "'--count'"),
    (["worker", "start", "--concurrency", "0"], "'--concurrency'"),
    (["worker", "start", "--grace", "nan"], "'--grace'"),
    (["worker", "start", "--queue", "ok,not ok"], "got 'not ok'"),
    (["worker", "stop", "--timeout", "-1"], "'--timeout'"),
    (["worker", "stop", "--grace", "inf"], "'--grace'"),
    (["worker", "run", "--concurrency", "0"], "'--concurrency'"),
    (["cancel", "x", "--signal", "FOO"], "unknown signal 'FOO'"),
    (["signal", "x", "FOO"], "unknown signal 'FOO'"),
    (["dashboard", "--port", "99999"], "'--port'"),
    (["dashboard", "--port", "x"], "valid integer"),
    (["queue", "set", "q", "--rate", "0/s"], "invalid rate"),
    (["queue", "set", "q", "--concurrency", "0"], "invalid concurrency"),
    (["queue", "set", "q"], "give --concurrency and/or --rate"),
    (["queue", "pause", "a/b"], "queue name"),
    (["cron", "add", "x", "61 * * * *", '{"command": "true"}'], "invalid schedule"),
    (["cron", "add", "bad name", "@daily", '{"command": "true"}'], "invalid cron name"),
    (["config", "set", "colour", "blue"], "unknown config key 'colour'"),
    (["config", "set", "max_retries", "lots"], "whole number"),
    (["enqueue", "{not json"], "invalid JSON"),
    (["enqueue", '{"command": ""}'], "'command' must not be empty"),
    (["enqueue", '{"command": "true"}', "--wait", "--follow"], "--wait or --follow"),
    (["dlq", "list", "--limit", "0"], "'--limit'"),
    (["dlq", "retry"], "a job ID or --all"),
    (["dlq", "retry", "x", "--all"], "a job ID or --all"),
    (["pause"], "job IDs or --all"),
    (["resume", "x", "--all"], "job IDs or --all"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_VALUES, ids=lambda a: " ".join(a)[:50]
                         if isinstance(a, list) else "")
def test_a_bad_value_is_one_line_exit_2_before_any_connection(cli, args, needle):
    """`cli` has no database here: each of these is refused before one is looked for."""
    result = cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines


def test_a_bad_database_url_is_one_line_exit_2(cli):
    line = usage_error(cli("--database-url", "mysql://x@y/z", "list"), [])
    assert "postgresql://" in line


@pytest.mark.parametrize("value", ["maybe", "o n"])
def test_a_bad_prepared_statements_variable_is_one_line_exit_2(cli, value):
    result = cli("--database-url", "postgresql://x@127.0.0.1:1/z", "list",
                 extra_env={"QUEUECTL_PREPARED_STATEMENTS": value})
    line = usage_error(result, [])
    assert "QUEUECTL_PREPARED_STATEMENTS" in line and "use on or off" in line


def test_an_argument_that_is_not_utf8_is_one_line_exit_2(cli):
    result = cli("show", "caf\udce9")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: argument 'caf\\xe9' is not valid UTF-8 text\n"
