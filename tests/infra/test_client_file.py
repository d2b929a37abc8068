"""The client file as start.sh and stop.sh write it, for real, in two copies of the repository
sharing one HOME: each checkout's start.sh adds its own context, stop.sh --purge removes only
its own, and a command whose queue was removed never reaches the libpq defaults' server.

start.sh itself would start a PostgreSQL cluster (tests/infra/test_start_stop.py does that,
slowly): here its client-file step (`client_file_record`, the function start.sh calls after
the migration) runs on its own; stop.sh --local --purge runs whole, with no cluster to stop."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_copy import clean_env, copy_repo, run


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two clones, both called queuectl, as two people (or one) would have them."""
    base = tmp_path_factory.mktemp("clones")
    return copy_repo(base / "one" / "queuectl"), copy_repo(base / "two" / "queuectl")


@pytest.fixture
def home_env(tmp_path: Path) -> dict[str, str]:
    """One HOME for both checkouts; this test's Python for the scripts and the CLI."""
    venv = str(Path(sys.executable).parent.parent)
    return clean_env(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"),
                     QUEUECTL_VENV=venv)


def _record(repo: Path, url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """What start.sh --local does once its queue is migrated."""
    script = ('source scripts/common.sh && source scripts/client-file.sh && '
              'client_file_record "$1" "$2" local && echo "context=$CLIENT_FILE_CONTEXT"')
    return subprocess.run(["bash", "-c", script, "start.sh", url, str(repo / "home")],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=60)


def _queuectl(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "queuectl", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[object]]]:
    """A port where something accepts TCP connections, and the list of those it accepted:
    stands in for the machine's own PostgreSQL on the libpq defaults."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []

    def serve() -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            accepted.append(peer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.close()
    thread.join(timeout=5)


def test_two_checkouts_keep_both_contexts_and_purge_removes_only_its_own(
        checkouts, home_env, listener) -> None:
    one, two = checkouts
    first = _record(one, "postgresql://u:p@127.0.0.1:1/one", home_env)
    assert first.returncode == 0, first.stderr
    second = _record(two, "postgresql://u:p@127.0.0.1:1/two", home_env)
    assert second.returncode == 0, second.stderr
    name_one = first.stdout.split("context=")[1].strip()
    name_two = second.stdout.split("context=")[1].strip()
    assert name_one != name_two and f"context '{name_two}' (current)" in second.stderr
    path = Path(home_env["XDG_CONFIG_HOME"], "queuectl", "config.toml")
    data = tomllib.loads(path.read_text())
    assert data["current"] == name_two and set(data["contexts"]) == {name_one, name_two}
    assert data["contexts"][name_one]["home"] == str(one / "home")  # the shell's QUEUECTL_HOME
    shown = _queuectl(one, "context", "list", env=home_env)
    assert shown.returncode == 0 and "127.0.0.1:1/one" in shown.stdout, shown.stderr

    proc = run(two, "stop.sh", "--local", "--purge", env=home_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"removed context '{name_two}'" in proc.stderr
    data = tomllib.loads(path.read_text())
    assert "current" not in data and set(data["contexts"]) == {name_one}

    # Nobody chose a queue now: a command says so instead of trying the libpq defaults.
    port, accepted = listener
    env = {**home_env, "PGHOST": "127.0.0.1", "PGPORT": str(port)}
    status = _queuectl(one, "status", env=env)
    assert status.returncode == 2 and status.stdout == ""
    assert status.stderr.startswith(f"error: {path} names no current queue (contexts: "
                                    f"{name_one})") and status.stderr.count("\n") == 1
    gone = _queuectl(one, "--context", name_two, "status", env=env)
    assert gone.returncode == 2 and f"no context '{name_two}'" in gone.stderr
    assert f"known: {name_one};" in gone.stderr
    assert accepted == []


def test_install_puts_a_launcher_on_path_and_keeps_other_programs(checkouts, home_env) -> None:
    one, _ = checkouts
    bin_dir = Path(home_env["HOME"], ".local", "bin")
    script = "source scripts/common.sh && source scripts/client-file.sh && launcher_install"
    proc = subprocess.run(["bash", "-c", script], cwd=one, env=home_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"{bin_dir} is not on PATH" in proc.stderr
    version = subprocess.run([str(bin_dir / "queuectl"), "--version"], capture_output=True,
                             text=True, timeout=60, env=home_env)
    assert version.returncode == 0 and version.stdout.startswith("queuectl "), version.stderr
    (bin_dir / "queuectl").write_text("#!/bin/sh\necho another queuectl\n")
    proc = subprocess.run(["bash", "-c", script], cwd=one, env=home_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "is not a launcher from ./start.sh --install" in proc.stderr
    assert "another queuectl" in (bin_dir / "queuectl").read_text()
