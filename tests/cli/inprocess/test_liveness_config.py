"""`lease_timeout` and `heartbeat_interval` that cannot work together are refused by `config
set` against the other's stored value; a pair stored before that rule does not hide workers
from `status` or `worker stop`; `worker stop` never reports success while a registered worker
of the host may still run, and refuses an empty or unknown `--host`. In process: the workers
here are registrations made by hand (no process starts)."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import sqlalchemy as sa

from queuectl import store
from queuectl.store import reads
from queuectl.worker import ports
from tests.cli.checks import one_error_line, snapshot
from tests.cli.test_config_fallback import store_raw

HOST = socket.gethostname()


def register(engine: sa.Engine, *, host: str = HOST, pid: int | None = None,
             silent_for: float = 0.0) -> int:
    """A worker registration whose last heartbeat was `silent_for` seconds ago."""
    worker_id = store.register_worker(engine, host=host, pid=pid or os.getpid(),
                                      version="test", concurrency=1)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE workers SET heartbeat_at = now() - :s * interval "
                             "'1 second' WHERE id = :id"), {"s": silent_for, "id": worker_id})
    return worker_id


def stop_requested(engine: sa.Engine, worker_id: int) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT stop_requested_at IS NOT NULL FROM workers "
                                         "WHERE id = :id"), {"id": worker_id}).scalar_one())


def test_a_lease_shorter_than_two_heartbeats_is_refused_either_way(clean, cli):
    before = snapshot(clean)
    line = one_error_line(cli("config", "set", "lease_timeout", "2s"), 2)
    assert "cannot set lease_timeout to 2s" in line
    assert "heartbeat_interval 5s" in line and "at least 10s" in line  # the default's value
    assert cli("config", "set", "heartbeat_interval", "10s").returncode == 0
    line = one_error_line(cli("config", "set", "lease_timeout", "19.999s"), 2)
    assert "heartbeat_interval 10s" in line and "at least 20s" in line
    line = one_error_line(cli("config", "set", "heartbeat_interval", "16s"), 2)
    assert "cannot set heartbeat_interval to 16s: lease_timeout 30s" in line
    assert "at least 32s" in line and "raise lease_timeout first" in line
    assert cli("config", "get", "lease_timeout").stdout == "lease_timeout = 30s\n"
    assert cli("config", "set", "heartbeat_interval", "15s").returncode == 0  # 30s = 2 x 15s
    assert cli("config", "set", "heartbeat_interval", "1s").returncode == 0
    assert cli("config", "set", "lease_timeout", "2s").returncode == 0
    assert cli("config", "list").stderr == ""
    assert snapshot(clean) != before


def test_a_pair_stored_before_the_rule_does_not_hide_workers(clean, cli):
    store_raw(clean, {"lease_timeout": "2", "heartbeat_interval": "10"})
    # A worker that heartbeats every 10s, 5s after its last heartbeat.
    worker_id = register(clean, silent_for=5)
    status = json.loads(cli("status", "--json").stdout)
    assert [w["id"] for w in status["workers"]] == [worker_id]
    stopped = cli("worker", "stop", "--timeout", "0.3")
    assert "Stopping 1 worker(s)" in stopped.stdout
    assert "1 worker(s) still running after 0.3s" in one_error_line(stopped, 1)
    assert stop_requested(clean, worker_id)
    listed = cli("config", "list")
    assert listed.returncode == 0
    assert listed.stderr.startswith("warning: lease_timeout 2s is shorter than 2 heartbeat "
                                    "intervals (heartbeat_interval 10s, so at least 20s)")
    assert "workers use a 20s lease" in listed.stderr


def test_workers_use_and_see_a_lease_of_at_least_two_heartbeats():
    values = {"lease_timeout": 2.0, "heartbeat_interval": 10.0, "poll_interval": 1.0,
              "job_timeout": None, "retention": None, "backoff_base": 2.0,
              "backoff_max": 60.0, "backoff_jitter": 0.0, "retry_on": None,
              "no_retry_on": None}
    assert ports.Settings.from_config(values).lease_timeout == 20.0
    assert reads.live_within(values) == 20.0
    assert reads.live_within({**values, "lease_timeout": 30.0, "heartbeat_interval": 5.0}) == 15
    assert reads.live_within({**values, "lease_timeout": 25.0}) == 25


def test_worker_stop_asks_a_silent_worker_and_does_not_report_success(clean, cli):
    late = register(clean, silent_for=40)  # live means heartbeated within 15s by default
    stopped = cli("worker", "stop")
    line = one_error_line(stopped, 1)
    assert f"1 registered worker(s) on host {HOST} (PID {os.getpid()})" in line
    assert "asked them to stop at their next heartbeat" in line
    assert stop_requested(clean, late)


def test_worker_stop_leaves_out_what_is_dead(clean, cli):
    gone = subprocess.Popen(["true"])
    gone.wait()
    register(clean, pid=gone.pid, silent_for=40)  # this host's process is gone: it died
    register(clean, silent_for=3600)  # older than the leader's drop: dead, whatever its pid
    stopped = cli("worker", "stop")
    assert (stopped.returncode, stopped.stderr) == (0, f"No workers are running on host "
                                                       f"{HOST}\n")


def test_worker_stop_of_another_host_with_a_silent_worker(clean, cli):
    other = register(clean, host="build-02", pid=4242, silent_for=40)
    line = one_error_line(cli("worker", "stop", "--host", "build-02"), 1)
    assert "on host build-02 (PID 4242)" in line
    assert stop_requested(clean, other)
    assert "on the fleet" in one_error_line(cli("worker", "stop", "--all-hosts"), 1)


def test_worker_stop_refuses_an_empty_or_unknown_host(clean, cli):
    register(clean)  # a live worker of this host, which neither may touch
    for empty in ("", " "):
        line = one_error_line(cli("worker", "stop", "--host", empty), 2)
        assert "'--host'" in line and "must name a host" in line
    line = one_error_line(cli("worker", "stop", "--host", "nosuch"), 1)
    assert line == ("error: no worker is registered on host 'nosuch' (`queuectl status` lists "
                    "the live workers and their hosts)")
    with clean.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM workers WHERE stop_requested_at "
                                    "IS NOT NULL")).scalar_one() == 0
