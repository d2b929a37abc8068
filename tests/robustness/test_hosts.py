"""Several hosts: workers in network namespaces joined by a bridge, PostgreSQL on the bridge.

Host A runs a job; its link is cut. Host B rescues the job after the lease and completes it.
The link comes back: A's late result is fenced off (dropped), the job stays completed once.
Everything the test creates (namespaces, bridge, veths, cluster) is removed even on failure.
"""

from __future__ import annotations

import ipaddress
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pgcluster import (
    Ledger,
    PgCluster,
    cluster_unavailable,
    configure,
    engine_for,
    enqueue,
    job_rows,
    metric_rows,
    ok_command,
    report,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.slow


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _free_subnet(rng: random.Random) -> ipaddress.IPv4Network:
    used = ip("-4", "addr").stdout + ip("-4", "route").stdout
    nets = [ipaddress.ip_network(tok, strict=False) for tok in used.split()
            if "/" in tok and tok[0].isdigit()]
    for _ in range(50):
        net = ipaddress.ip_network(f"10.{rng.randint(160, 250)}.{rng.randint(1, 250)}.0/24")
        if not any(net.overlaps(n) for n in nets):
            return net
    pytest.skip("no free private /24 for the test bridge")


@dataclass
class Net:
    """A bridge at .1 and namespaces at .2, .3 ...; `hosts[i]` is (namespace, host-side veth)."""

    bridge: str
    bridge_ip: str
    subnet: str
    hosts: list[tuple[str, str]]

    def cut(self, i: int) -> None:
        ip("link", "set", self.hosts[i][1], "down")

    def restore(self, i: int) -> None:
        ip("link", "set", self.hosts[i][1], "up")


@pytest.fixture
def net() -> Iterator[Net]:
    if shutil.which("ip") is None:
        pytest.skip("no `ip` command here (iproute2) to build network namespaces")
    if reason := cluster_unavailable():
        pytest.skip(reason)
    rng = random.Random()
    tag = f"{rng.randrange(16**5):05x}"
    subnet = _free_subnet(rng)
    addrs = list(subnet.hosts())
    bridge = f"qbr{tag}"
    made = Net(bridge, str(addrs[0]), str(subnet), [])
    try:
        probe = ip("netns", "add", f"q{tag}a", check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot create network namespaces here: {probe.stderr.strip()}")
        ip("netns", "add", f"q{tag}b")
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{addrs[0]}/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for i, name in enumerate("ab"):
            ns, host_end, ns_end = f"q{tag}{name}", f"qv{tag}{name}", f"qp{tag}{name}"
            ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            made.hosts.append((ns, host_end))
            ip("link", "set", host_end, "master", bridge)
            ip("link", "set", host_end, "up")
            ip("link", "set", ns_end, "netns", ns)
            ip("-n", ns, "addr", "add", f"{addrs[i + 1]}/24", "dev", ns_end)
            ip("-n", ns, "link", "set", ns_end, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield made
    finally:
        for name in "ab":
            ip("link", "del", f"qv{tag}{name}", check=False)
            ip("netns", "del", f"q{tag}{name}", check=False)
        ip("link", "del", bridge, check=False)


@pytest.fixture
def bridge_pg(net: Net) -> Iterator[PgCluster]:
    cluster = PgCluster(net.bridge_ip, hba_net=net.subnet)
    try:
        yield cluster
    finally:
        cluster.destroy()


def test_cut_host_is_rescued_elsewhere_and_its_late_result_fenced(
        net, bridge_pg, make_workers, scratch, tmp_path):
    url = bridge_pg.create_queue_db()
    engine = engine_for(url)
    try:
        configure(engine, heartbeat_interval="0.3s", poll_interval="0.2s", lease_timeout="2s",
                  backoff_base="1", backoff_max="0.1s")
        ledger = scratch / "ledger"
        pool = make_workers(worker_env(url, tmp_path / "home"))
        host_a = pool.start(prefix=["ip", "netns", "exec", net.hosts[0][0]])
        wait_until(lambda: "started (id" in pool.logs(), 30, "host A's worker to register")
        enqueue(engine, [{"id": "net job", "max_retries": 3,
                          "command": ok_command("net job", ledger, sleep="5")}])
        wait_until(lambda: "net job" in Ledger.read(ledger).runs, 20, "host A to start the job")
        host_b = pool.start(prefix=["ip", "netns", "exec", net.hosts[1][0]])
        wait_until(lambda: pool.logs().count("started (id") >= 2, 30, "host B's worker")

        t_cut = time.monotonic()
        net.cut(0)
        wait_until(lambda: job_rows(engine)["net job"].state == "completed", 40,
                   "host B to rescue and complete the job", interval=0.05)
        rescued_in = time.monotonic() - t_cut
        runs = Ledger.read(ledger).runs["net job"]
        assert [r.worker_pid for r in runs] == [host_a.pid, host_b.pid], runs
        assert runs[1].end == "E"
        # Host A finished its run too, cut off from the database: that result must not count.
        wait_until(lambda: Ledger.read(ledger).runs["net job"][0].end == "E", 10,
                   "host A's run to end")
        before = [(m.outcome, m.exit_code) for m in metric_rows(engine)["net job"]]
        assert before == [("failed", None), ("completed", 0)]

        net.restore(0)
        t_restore = time.monotonic()
        wait_until(lambda: "result of run" in pool.log_dir.joinpath("worker-0000.log")
                   .read_text(), 90, "host A to find its late result fenced off", interval=0.2)
        fenced_in = time.monotonic() - t_restore
        assert "job net job: result of run" in pool.logs()
        row = job_rows(engine)["net job"]
        assert (row.state, row.attempts) == ("completed", 2)
        assert [(m.outcome, m.exit_code) for m in metric_rows(engine)["net job"]] == before
        assert host_a.poll() is None and host_b.poll() is None, pool.tail()
        pool.stop()
        assert (host_a.returncode, host_b.returncode) == (0, 0), pool.tail()
        report("two hosts (netns)", lease_timeout="2s", cut_to_completed_elsewhere=
               f"{rescued_in:.2f}s", restore_to_late_result_fenced=f"{fenced_in:.2f}s")
    finally:
        engine.dispose()
