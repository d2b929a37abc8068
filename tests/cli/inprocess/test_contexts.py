"""`queuectl context list|use|show`, `--context NAME` and `QUEUECTL_CONTEXT` through the real
CLI: several named queues in one client file, status and doctor naming the one they use, and
one error line (exit 2) for a name the file does not hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from queuectl import clientfile
from tests.cli.checks import host_port, one_error_line

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/elsewhere"


@pytest.fixture
def contexts(tmp_path: Path, db_url: str) -> dict[str, str | None]:
    """A client file with the test database as `here` (current) and an unreachable `away`;
    the environment that leaves the choice to it."""
    config = tmp_path / "config"
    path = config / "queuectl" / "config.toml"
    clientfile.record(path, base="away", url=UNREACHABLE, checkout="/src/away", home=None)
    clientfile.record(path, base="here", url=db_url, checkout="/src/here",
                      home=str(tmp_path / "here-home"))
    environ = {"XDG_CONFIG_HOME": str(config)}
    return {**environ, "QUEUECTL_DATABASE_URL": None, "QUEUECTL_HOME": None}


def test_list_marks_the_current_context(cli, contexts, db_url):
    result = cli("context", "list", extra_env=contexts)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[-3]: line for line in result.stdout.splitlines()[2:]}
    assert set(rows) == {"away", "here"}
    assert rows["here"].startswith("*") and not rows["away"].startswith("*")
    assert host_port(db_url) in rows["here"] and "127.0.0.1:1/elsewhere" in rows["away"]


def test_use_switches_every_later_command(clean, cli, contexts, db_url):
    assert cli("status", extra_env=contexts).stdout.rstrip().endswith(", context here)")
    result = cli("context", "use", "away", extra_env=contexts)
    assert (result.returncode, result.stdout) == (0, "Current context: away "
                                                     "(127.0.0.1:1/elsewhere)\n")
    shown = cli("context", "show", extra_env=contexts)
    assert "context:  away\n" in shown.stdout and "127.0.0.1:1/elsewhere" in shown.stdout
    line = one_error_line(cli("status", extra_env=contexts), 2)
    assert "URL from context away in" in line and "is context away's server running" in line
    # One command elsewhere, without switching: the flag, then the variable.
    status = cli("--context", "here", "status", "--json", extra_env=contexts)
    assert json.loads(status.stdout)["context"] == "here", status.stderr
    status = cli("status", extra_env={**contexts, "QUEUECTL_CONTEXT": "here"})
    database = db_url.rsplit('/', 1)[1]
    assert re.search(rf"/{database} \(connected to [^,]+, context here\)$", status.stdout.rstrip())


def test_show_and_doctor_name_the_context_and_its_home(clean, cli, contexts, tmp_path):
    shown = cli("context", "show", extra_env=contexts)
    assert shown.returncode == 0, shown.stderr
    assert "context:  here\n" in shown.stdout
    assert f"home:     {tmp_path / 'here-home'}\n" in shown.stdout
    doctor = cli("doctor", extra_env=contexts)
    assert doctor.returncode == 0, doctor.stderr
    assert f"context:      here (home {tmp_path / 'here-home'})" in doctor.stdout
    assert "(in use)" in doctor.stdout


@pytest.mark.parametrize("args", [("--context", "nope", "status"),
                                  ("context", "use", "nope")])
def test_an_unknown_name_is_one_line_listing_the_known_ones(cli, contexts, args):
    line = one_error_line(cli(*args, extra_env=contexts), 2)
    assert "no context 'nope'" in line and "known: away, here;" in line
    assert cli("context", "show", extra_env=contexts).stdout.startswith("context:  here")


def test_the_env_variable_names_a_context_too(cli, contexts):
    line = one_error_line(cli("status", extra_env={**contexts, "QUEUECTL_CONTEXT": "nope"}), 2)
    assert "named by QUEUECTL_CONTEXT" in line


def test_the_hint_for_an_unreachable_flag_url_names_the_flag(cli):
    line = one_error_line(cli("--database-url", UNREACHABLE, "status"), 2)
    assert line.endswith("check the URL given with --database-url")
    assert "set QUEUECTL_DATABASE_URL" not in line
