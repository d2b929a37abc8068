"""start.sh and stop.sh without Docker, run in a temporary copy of the repository: a fresh
virtualenv, a private PostgreSQL cluster, `queuectl` pointed at it; reuse; stop; purge.

stop.sh runs with --local so that on a machine with a Docker engine the tests never touch the
developer's compose stack."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_LOCAL_STATE = shutil.ignore_patterns(
    ".git", ".venv", ".queuectl", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache",
    ".mypy_cache", "node_modules", "test-artifacts", "results",
)


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point start.sh elsewhere."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "QUEUECTL_VENV", "VIRTUAL_ENV",
                        "QUEUECTL_HOME", "QUEUECTL_LOCAL_PGPORT", "PGHOST", "PGPORT")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != venv_bin)
    env.update(extra)
    return env


def _run(repo: Path, *argv: str, env: dict[str, str], timeout: float = 600,
         stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(repo / argv[0]), *argv[1:]], cwd=repo, env=env, text=True,
                          capture_output=True, timeout=timeout, input=stdin)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _server_binaries() -> bool:
    probe = subprocess.run(
        ["bash", "-c", "source scripts/common.sh && source scripts/pg-local.sh && "
                       "pg_local_bindir"], cwd=ROOT, capture_output=True, text=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the repo and the environment to run its scripts in; purged afterwards."""
    if not _server_binaries():
        pytest.skip("no PostgreSQL server binaries on this machine")
    repo = tmp_path_factory.mktemp("start") / "queuectl"
    shutil.copytree(ROOT, repo, ignore=_LOCAL_STATE, symlinks=True)
    # start.sh records the queue in the per-user client file: keep the real one untouched.
    env = _clean_env(QUEUECTL_LOCAL_PGPORT=str(_free_port()),
                     XDG_CONFIG_HOME=str(repo.parent / "xdg-config"))
    yield repo, env
    _run(repo, "stop.sh", "--local", "--purge", env=env, timeout=120)


@pytest.mark.slow
def test_start_local_runs_a_command_against_a_fresh_private_cluster(copy) -> None:
    repo, env = copy
    proc = _run(repo, "start.sh", "--local", "--", "queuectl", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "TOTAL" in proc.stdout
    assert "creating a private PostgreSQL cluster" in proc.stderr
    assert (repo / ".venv" / "bin" / "queuectl").exists()
    assert _listening(int(env["QUEUECTL_LOCAL_PGPORT"]))


@pytest.mark.slow
def test_a_second_terminal_uses_the_queue_start_set_up(copy) -> None:
    repo, env = copy
    proc = _run(repo, "start.sh", "--local", "--", "true", env=env)
    assert proc.returncode == 0, proc.stderr
    client_file = Path(env["XDG_CONFIG_HOME"], "queuectl", "config.toml")
    assert f"recorded this queue in {client_file}" in proc.stderr
    assert client_file.stat().st_mode & 0o077 == 0  # it holds a password
    # Outside start.sh's shell: no QUEUECTL_DATABASE_URL, plain PATH.
    proc = _run(repo, ".venv/bin/queuectl", "status", env=env)
    assert proc.returncode == 0, proc.stderr
    port = env["QUEUECTL_LOCAL_PGPORT"]
    assert proc.stdout.rstrip().endswith(f"Database: 127.0.0.1:{port}/queuectl")
    proc = _run(repo, ".venv/bin/queuectl", "doctor", env=env)
    assert f"URL from:     {client_file}" in proc.stdout


@pytest.mark.slow
def test_start_again_reuses_the_same_cluster_and_data(copy) -> None:
    repo, env = copy
    proc = _run(repo, "start.sh", "--local", "--", "queuectl", "enqueue",
                '{"id": "kept", "command": "true"}', env=env)
    assert proc.returncode == 0, proc.stderr
    proc = _run(repo, "start.sh", "--local", "--", "queuectl", "show", "kept", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "creating" not in proc.stderr
    assert "pending" in proc.stdout


@pytest.mark.slow
def test_without_a_docker_engine_start_falls_back_to_local(copy) -> None:
    repo, env = copy
    if shutil.which("docker") and subprocess.run(
            ["docker", "info"], capture_output=True, timeout=30).returncode == 0:
        pytest.skip("a Docker engine answers here")
    proc = _run(repo, "start.sh", "--", "sh", "-c", 'echo "url=$QUEUECTL_DATABASE_URL"', env=env)
    assert proc.returncode == 0, proc.stderr
    assert "no Docker engine answers" in proc.stderr
    assert f"@127.0.0.1:{env['QUEUECTL_LOCAL_PGPORT']}/queuectl" in proc.stdout


@pytest.mark.slow
def test_interactive_shell_has_queuectl_on_path(copy) -> None:
    repo, env = copy
    proc = _run(repo, "start.sh", "--local", env=env, stdin="command -v queuectl\nexit\n")
    assert proc.returncode == 0, proc.stderr
    assert f"{repo}/.venv/bin/queuectl" in proc.stdout
    assert "queuectl is ready" in proc.stderr


@pytest.mark.slow
def test_stop_keeps_the_data_and_purge_deletes_it(copy) -> None:
    repo, env = copy
    port = int(env["QUEUECTL_LOCAL_PGPORT"])
    proc = _run(repo, "stop.sh", "--local", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not _listening(port)
    assert "data kept in" in proc.stderr
    data = proc.stderr.split("data kept in ")[1].split()[0]
    assert Path(data, "PG_VERSION").exists()

    proc = _run(repo, "start.sh", "--local", "--", "queuectl", "show", "kept", env=env)
    assert proc.returncode == 0 and "pending" in proc.stdout, proc.stderr

    proc = _run(repo, "stop.sh", "--local", "--purge", env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"deleting the private cluster's data: {data}" in proc.stderr
    assert not Path(data).exists() and not (repo / ".queuectl").exists()
    assert not _listening(port)
    assert not Path(env["XDG_CONFIG_HOME"], "queuectl", "config.toml").exists()


def test_start_says_what_to_install_when_nothing_is_available(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "dirname", "cat", "timeout"):
        (bin_dir / name).symlink_to(shutil.which(name))
    env = _clean_env(PATH=str(bin_dir), QUEUECTL_PG_SEARCH="")
    for args in ((), ("--local",)):
        proc = _run(ROOT, "start.sh", *args, "--", "true", env=env, timeout=60)
        assert proc.returncode != 0
        assert "sudo apt-get install postgresql" in proc.stderr
        assert "Docker Engine" in proc.stderr


def test_start_rejects_unknown_arguments() -> None:
    proc = _run(ROOT, "start.sh", "--bogus", env=_clean_env(), timeout=60)
    assert proc.returncode != 0
    assert "unknown argument '--bogus'" in proc.stderr


def test_stop_without_a_cluster_is_a_no_op(tmp_path: Path) -> None:
    repo = tmp_path / "queuectl"
    shutil.copytree(ROOT, repo, ignore=_LOCAL_STATE, symlinks=True)
    proc = _run(repo, "stop.sh", "--local", env=_clean_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "no local cluster" in proc.stderr
