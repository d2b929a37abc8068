"""The thin subprocess layer over tests/cli/inprocess: the real entry points, `python -m
queuectl` and the installed `queuectl` script, start, parse, reach the database and end on
the same error boundary as the in-process runner sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from queuectl import __version__
from tests.cli.checks import one_error_line
from tests.conftest import QUEUECTL, ROOT

SCRIPT = Path(sys.executable).with_name("queuectl")
ENTRY_POINTS = {"python -m queuectl": QUEUECTL, "queuectl script": [str(SCRIPT)]}


@pytest.fixture(params=list(ENTRY_POINTS))
def run(request, env):
    """Run one of the two entry points with the module database's environment."""
    argv0 = ENTRY_POINTS[request.param]
    if argv0 == [str(SCRIPT)]:
        assert SCRIPT.exists(), f"{SCRIPT} missing: install queuectl in this environment"

    def invoke(*args: str | bytes) -> subprocess.CompletedProcess:
        return subprocess.run([*argv0, *args], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=60)

    return invoke


def test_version(run):
    result = run("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"queuectl {__version__}\n", "")


def test_a_usage_error_is_one_line_exit_2(run):
    line = one_error_line(run("list", "--limit", "0"), 2)
    assert line.endswith("(see 'queuectl list --help')"), line
    assert run("list", "--limit", "0").stdout == ""


def test_a_real_command_against_the_database(clean, run):
    result = run("enqueue", '{"command": "true", "id": "ep"}')
    assert (result.returncode, result.stdout, result.stderr) == (0, "Job ep enqueued\n", "")
    assert json.loads(run("show", "--json", "ep").stdout)["state"] == "pending"
    assert json.loads(run("status", "--json").stdout)["counts"]["pending"] == 1


def test_errors_are_one_line_without_a_traceback(clean, run):
    assert "no job" in one_error_line(run("show", "nope"), 1)
    line = one_error_line(run("--database-url", "postgresql://postgres@127.0.0.1:1/x", "status"), 2)
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/x" in line


def test_an_argument_that_is_not_utf8_is_one_line_exit_2(run):
    result = run("show", b"caf\xe9")  # what the shell passes; Python keeps it as a surrogate
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "error: argument 'caf\\xe9' is not valid UTF-8 text\n"
