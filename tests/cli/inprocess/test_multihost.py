"""Multi-host database URLs in process: a comma host list in the URL, or `host=`/`port=`
parameters, whose first host is a closed local port and whose second is the test server.
Every command works; `status` and `doctor` name the hosts as given and the one reached; a
read-only server is an outage with one line that names every host tried."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.cli.checks import host_port, one_error_line, userinfo
from tests.conftest import create_database, drop_database


def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound for a moment by us, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def comma_url(db_url: str, closed: int, query: str = "") -> str:
    url = make_url(db_url)
    hosts = f"127.0.0.1:{closed},{host_port(db_url)}"
    return f"postgresql://{userinfo(db_url)}@{hosts}/{url.database}" + (
        f"?{query}" if query else "")


def param_url(db_url: str, closed: int) -> str:
    url = make_url(db_url)
    return (f"postgresql://{userinfo(db_url)}@/{url.database}?host=127.0.0.1,{url.host}"
            f"&port={closed},{url.port or 5432}&connect_timeout=3&sslmode=disable")


@pytest.fixture(params=["comma", "parameters"])
def multi(request, db_url: str) -> tuple[str, str, str]:
    """(URL, the hosts as `status` names them, the host reached)."""
    closed = closed_port()
    reached = host_port(db_url)
    url = (comma_url(db_url, closed, "target_session_attrs=read-write&connect_timeout=3")
           if request.param == "comma" else param_url(db_url, closed))
    return url, f"127.0.0.1:{closed},{reached}", reached


def test_every_command_works_on_a_multi_host_url(clean, cli, multi):
    url, hosts, reached = multi
    database = make_url(clean.url).database

    def run(*args: str):
        result = cli("--database-url", url, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    run("migrate")
    job = json.loads(run("enqueue", '{"id": "mh-1", "command": "true"}', "--json").stdout)
    assert job["id"] == "mh-1"
    assert "mh-1" in run("list").stdout
    assert json.loads(run("show", "mh-1", "--json").stdout)["id"] == "mh-1"
    run("metrics")
    status = run("status")
    assert status.stdout.strip().splitlines()[-1] == (
        f"Database: {hosts}/{database} (connected to {reached})")
    data = json.loads(run("status", "--json").stdout)
    assert (data["database"], data["connected_to"]) == (f"{hosts}/{database}", reached)
    doctor = run("doctor").stdout
    assert f"database:     {hosts}/{database}\n" in doctor
    assert f"connected to: {reached}\n" in doctor


def test_unreachable_hosts_are_all_named_and_none_invented(cli):
    first, second = closed_port(), closed_port()
    url = f"postgresql://postgres@127.0.0.1:{first},127.0.0.1:{second}/x?connect_timeout=2"
    result = cli("--database-url", url, "doctor")
    where = f"127.0.0.1:{first},127.0.0.1:{second}/x"
    assert f"database:     {where}\n" in result.stdout
    line = one_error_line(result, 2)
    assert line.startswith(f"error: cannot connect to PostgreSQL at {where} ")
    assert (f"no server reachable among 2 hosts (127.0.0.1:{first}: Connection refused; "
            f"127.0.0.1:{second}: Connection refused)") in line
    assert "5432" not in result.stdout + result.stderr
    for command in (("list",), ("status",), ("migrate",), ("worker", "start")):
        line = one_error_line(cli("--database-url", url, *command), 2)
        assert where in line and f"127.0.0.1:{second}: Connection refused" in line


@pytest.fixture(scope="module")
def read_only_url(pg_server: str, template_db: str) -> Iterator[str]:
    """A migrated database whose sessions are read-only, as on a replica."""
    url = create_database(pg_server, template_db, "read_only")
    name = make_url(url).database
    with psycopg.connect(make_url(pg_server).set(drivername="postgresql")
                         .render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    yield url
    drop_database(pg_server, url)


@pytest.mark.parametrize("attrs", ["", "target_session_attrs=any"])
@pytest.mark.parametrize("command", [("status",), ("list",), ("migrate",),
                                     ("enqueue", '{"command": "true"}')])
def test_a_read_only_server_is_an_outage_naming_every_host(cli, read_only_url, attrs,
                                                           command):
    closed = closed_port()
    url = comma_url(read_only_url, closed, attrs)
    line = one_error_line(cli("--database-url", url, *command), 2)
    reached = host_port(read_only_url)
    assert line.startswith("error: cannot connect to PostgreSQL at "
                           f"127.0.0.1:{closed},{reached}/"), line
    assert re.search(rf"no writable server among 2 hosts \(127\.0\.0\.1:{closed}: Connection "
                     rf"refused; {re.escape(reached)}: (session is read-only|read-only)", line)


def test_a_single_read_only_host_says_so(cli, read_only_url):
    line = one_error_line(cli("--database-url", read_only_url, "status"), 2)
    assert "session is read-only" in line
    line = one_error_line(cli("--database-url", read_only_url + "?target_session_attrs=any",
                              "status"), 2)
    assert f"the server at {host_port(read_only_url)}: read-only" in line


def test_a_multi_host_url_in_the_client_file(clean, cli, db_url, tmp_path):
    closed = closed_port()
    url = comma_url(db_url, closed)
    path = tmp_path / "xdg" / "queuectl" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(f'database_url = "{url}"\n')
    result = cli("status", extra_env={"QUEUECTL_DATABASE_URL": None,  # type: ignore[dict-item]
                                      "XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert result.returncode == 0, result.stderr
    reached = host_port(db_url)
    assert result.stdout.strip().splitlines()[-1] == (
        f"Database: 127.0.0.1:{closed},{reached}/{make_url(db_url).database} "
        f"(connected to {reached}, context default)")


def test_doctor_says_whether_the_url_finds_the_primary_after_a_failover(clean, cli, db_url):
    def failover(url: str) -> str:
        result = cli("--database-url", url, "doctor")
        assert result.returncode == 0, result.stderr
        assert "replicas:     none streaming from this server\n" in result.stdout
        return next(x for x in result.stdout.splitlines() if x.startswith("failover:"))

    assert "nothing to fail over to" in failover(db_url)
    multi = failover(comma_url(db_url, closed_port()))
    assert "tries 2 hosts in order and takes the writable one" in multi
    assert "target_session_attrs=read-write, queuectl's default" in multi
    standby = failover(f"{db_url}?target_session_attrs=prefer-standby")
    assert standby.startswith("failover:     WARNING: target_session_attrs=prefer-standby")
