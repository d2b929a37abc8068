"""Helpers for running start.sh / stop.sh in a temporary copy of the repository (shared by the
tests of the local path): the copy, a clean environment, the scripts as subprocesses, ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_STATE = shutil.ignore_patterns(
    ".git", ".venv", ".queuectl", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache",
    ".mypy_cache", "node_modules", "test-artifacts", "results",
)


def copy_repo(dest: Path) -> Path:
    """Copy the repository without local state (virtualenv, cluster, caches) to `dest`."""
    shutil.copytree(ROOT, dest, ignore=LOCAL_STATE, symlinks=True)
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point start.sh elsewhere."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QUEUECTL_DATABASE_URL", "DATABASE_URL", "QUEUECTL_VENV", "VIRTUAL_ENV",
                        "QUEUECTL_HOME", "QUEUECTL_LOCAL_PGPORT", "QUEUECTL_PG_BINDIR",
                        "QUEUECTL_PG_BIN", "PGHOST", "PGPORT")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != venv_bin)
    env.update(extra)
    return env


def run(repo: Path, *argv: str, env: dict[str, str], timeout: float = 600,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the repo's script `argv[0]` with arguments; output captured as text."""
    return subprocess.run([str(repo / argv[0]), *argv[1:]], cwd=repo, env=env, text=True,
                          capture_output=True, timeout=timeout, input=stdin)


def free_port() -> int:
    """A TCP port nothing listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
