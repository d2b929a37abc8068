"""A real streaming replica (pg_basebackup of a private cluster): listed first in a multi-host
URL it is passed over for the primary, whatever `target_session_attrs` says; alone, it is an
outage that says the server is a standby. Both clusters are removed even on failure."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import (
    PG_BIN,
    QUEUECTL,
    ROOT,
    PgCluster,
    _as_postgres,
    cluster_unavailable,
    free_port,
    worker_env,
)

pytestmark = pytest.mark.slow


class Replica:
    """A hot standby of `primary`, streaming from it, on a port of its own."""

    def __init__(self, primary: PgCluster) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="queuectl-replica-", dir="/var/tmp"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        _as_postgres(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p",
                     str(primary.port), "-U", "postgres", "-D", str(self.data), "-R",
                     "-X", "stream", "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c hot_standby=on -c max_connections=200")
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l",
                     str(self.dir / "server.log"), "-o", opts, "-w", "-t", "60", "start")

    def destroy(self) -> None:
        """Stop (hard) and delete everything; never raises."""
        try:
            if (self.data / "postmaster.pid").exists():
                _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "stop", "-m",
                             "immediate")
        except (subprocess.SubprocessError, OSError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def replica() -> Iterator[tuple[PgCluster, Replica]]:
    """A private primary with a migrated `queuectl` database, and a hot standby of it."""
    if reason := cluster_unavailable():
        pytest.skip(reason)
    primary = PgCluster()
    standby: Replica | None = None
    try:
        primary.create_queue_db()
        standby = Replica(primary)
        yield primary, standby
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


def run(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_env(url, tmp_path / "home")
    return subprocess.run([*QUEUECTL, *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


@pytest.mark.parametrize("attrs", ["", "?target_session_attrs=any"])
def test_the_replica_first_in_the_url_is_passed_over_for_the_primary(replica, tmp_path,
                                                                    attrs):
    primary, standby = replica
    hosts = f"127.0.0.1:{standby.port},127.0.0.1:{primary.port}"
    url = f"postgresql://postgres@{hosts}/queuectl{attrs}"
    job = f'{{"id": "on-primary{len(attrs)}", "command": "true"}}'
    enqueued = run(url, tmp_path, "enqueue", job)
    assert enqueued.returncode == 0, enqueued.stderr
    status = run(url, tmp_path, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["database"] == f"{hosts}/queuectl"
    assert data["connected_to"] == f"127.0.0.1:{primary.port}"
    assert data["counts"]["pending"] >= 1
    doctor = run(url, tmp_path, "doctor")
    assert f"connected to: 127.0.0.1:{primary.port}\n" in doctor.stdout, doctor.stderr


@pytest.mark.parametrize(("attrs", "reason"), [
    ("", "session is read-only"),  # libpq's words, for target_session_attrs=read-write
    ("?target_session_attrs=any", "in recovery (a standby)"),
])
def test_the_replica_alone_is_an_outage_that_says_standby(replica, tmp_path, attrs, reason):
    _primary, standby = replica
    url = f"postgresql://postgres@127.0.0.1:{standby.port}/queuectl{attrs}"
    for command in (("status",), ("list",), ("enqueue", '{"command": "true"}')):
        result = run(url, tmp_path, *command)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith(
            f"error: cannot connect to PostgreSQL at 127.0.0.1:{standby.port}/queuectl")
        assert reason in lines[0], lines[0]


def test_doctor_shows_the_replica_and_whether_the_url_survives_a_failover(replica, tmp_path):
    primary, standby = replica
    single = f"postgresql://postgres@127.0.0.1:{primary.port}/queuectl"
    doctor = run(single, tmp_path, "doctor")
    assert doctor.returncode == 0, doctor.stderr
    [line] = [x for x in doctor.stdout.splitlines() if x.startswith("replicas:")]
    assert "streaming, async, replay lag" in line and "bytes behind" in line, line
    assert "failover:     WARNING: the URL names one host" in doctor.stdout
    both = (f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
            "/queuectl")
    doctor = run(both, tmp_path, "doctor")
    assert "failover:     finds the primary after a failover: tries 2 hosts" in doctor.stdout
