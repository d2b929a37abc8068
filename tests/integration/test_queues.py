"""Named queues with real worker processes: fleet-wide concurrency limits and rates hold
exactly, a full limited queue does not hold up the others, pause and resume, and the slot of a
worker killed mid-job frees when its job is rescued."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from tests.conftest import wait_for


@pytest.fixture
def fresh(clean: sa.Engine) -> sa.Engine:
    with clean.begin() as conn:
        conn.execute(sa.text("TRUNCATE queues, switches"))
    return clean


def enqueue(engine: sa.Engine, n: int, command: str, queue: str, prefix: str,
            priority: int = 0) -> None:
    store.enqueue_jobs(engine, specs=[JobSpec(f"{prefix}-{i:03d}", command, max_retries=0,
                                              priority=priority, queue=queue)
                                      for i in range(n)])


def runs(engine: sa.Engine, queue: str) -> list[tuple[datetime, datetime | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT started_at, finished_at FROM jobs WHERE queue = :q "
            "AND started_at IS NOT NULL ORDER BY started_at"), {"q": queue})]


def max_overlap(spans: list[tuple[datetime, datetime | None]]) -> int:
    """The most runs in progress at one instant (a run ending when another starts does not
    overlap it)."""
    far = datetime.max.replace(tzinfo=spans[0][0].tzinfo)
    events = sorted([(s, 1) for s, _ in spans] + [(f or far, -1) for _, f in spans],
                    key=lambda e: (e[0], e[1]))
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def states(engine: sa.Engine, queue: str) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(  # type: ignore[arg-type]
            "SELECT state, count(*) FROM jobs WHERE queue = :q GROUP BY state"),
            {"q": queue}).all())


def fast_config(cli) -> None:
    for key, value in {"heartbeat_interval": "0.5s", "poll_interval": "0.5s"}.items():
        assert cli("config", "set", key, value).returncode == 0


def hard_stop(workers) -> None:
    """Second SIGTERM: running jobs are killed and put back (teardown does not wait). The
    second goes only after a worker logged the first: two signals that arrive before its
    handler runs are handled as one."""
    live = [p for p in workers.procs if p.poll() is None]
    for p in live:
        p.send_signal(signal.SIGTERM)
    for p in live:
        wait_for(lambda p=p: p.poll() is not None
                 or f"worker {p.pid}: SIGTERM received" in workers.logs(),
                 timeout=10, message=f"worker {p.pid} to take the first SIGTERM")
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)


def wait_out_open_transactions(engine: sa.Engine) -> None:
    """Wait until every transaction open on the database now (other than ours) has ended: a
    claim that started before a change committed may still act on what it saw before it."""
    with engine.connect() as conn:
        now = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()

    def ended() -> bool:
        with engine.connect() as conn:
            return not conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start < :now"), {"now": now}
            ).scalar_one()

    wait_for(ended, timeout=20, message="transactions older than the change to end")


def lived(ledger: Path) -> list[tuple[datetime, datetime | None]]:
    """When each job's command ran, by the host's monotonic clock (/proc/uptime), from the
    `S`/`E` lines the commands appended to `ledger`."""
    marks: dict[str, dict[str, datetime]] = {}
    for line in ledger.read_text().splitlines():
        mark, job_id, up = line.split()
        marks.setdefault(job_id, {})[mark] = datetime.fromtimestamp(float(up), UTC)
    return [(m["S"], m.get("E")) for m in marks.values()]


def test_a_concurrency_limit_holds_exactly_across_three_worker_processes(fresh, cli, workers,
                                                                         tmp_path):
    fast_config(cli)
    assert cli("queue", "set", "lim", "--concurrency", "2").returncode == 0
    ledger = tmp_path / "ledger"
    now = "read -r up _ < /proc/uptime"
    enqueue(fresh, 40, f'{now}; echo "S $QUEUECTL_JOB_ID $up" >> {ledger}; sleep 0.3; '
                       f'{now}; echo "E $QUEUECTL_JOB_ID $up" >> {ledger}', "lim", "lim")
    started = time.monotonic()
    workers.start(3, "--concurrency", "4")
    wait_for(lambda: states(fresh, "lim") == {"completed": 40}, timeout=60,
             message="40 limited jobs completed")
    spans = runs(fresh, "lim")
    assert len(spans) == 40
    # The commands' own run times: `started_at` is its claim transaction's start (now()),
    # which under load can precede the commit of the finish that made room for it, so the
    # database's spans may seem to overlap where the runs did not.
    assert len(lived(ledger)) == 40
    assert max_overlap(lived(ledger)) == 2
    assert (spans[-1][1] - spans[0][0]).total_seconds() >= 6.0
    assert time.monotonic() - started >= 6.0


def test_a_rate_limit_spaces_starts_across_the_fleet(fresh, cli, workers):
    fast_config(cli)
    assert cli("queue", "set", "slow", "--rate", "5/s").returncode == 0
    enqueue(fresh, 30, "true", "slow", "r")
    workers.start(3, "--concurrency", "4")
    wait_for(lambda: states(fresh, "slow") == {"completed": 30}, timeout=60,
             message="30 rate-limited jobs completed")
    starts = [s for s, _ in runs(fresh, "slow")]
    assert (starts[-1] - starts[0]).total_seconds() >= 5.5
    for i in range(len(starts) - 5):  # never 6 starts within one second
        assert (starts[i + 5] - starts[i]).total_seconds() >= 1.0


def test_a_full_limited_queue_does_not_delay_other_queues(fresh, cli, workers):
    fast_config(cli)
    assert cli("queue", "set", "busy", "--concurrency", "1").returncode == 0
    # Ahead of everything by priority: a claim that scanned only these would starve.
    enqueue(fresh, 200, "sleep 20", "busy", "busy", priority=10)
    workers.start(1, "--concurrency", "4")
    wait_for(lambda: states(fresh, "busy").get("processing") == 1, message="busy is full")
    started = time.monotonic()
    enqueue(fresh, 20, "true", "default", "d")
    wait_for(lambda: states(fresh, "default") == {"completed": 20}, timeout=5,
             message="20 default jobs done while the limited queue is full")
    assert time.monotonic() - started < 5
    assert states(fresh, "busy").get("processing") == 1
    hard_stop(workers)


def test_a_backlog_in_other_queues_does_not_starve_a_limited_queue(fresh, cli, workers):
    fast_config(cli)
    assert cli("queue", "set", "lim", "--concurrency", "1").returncode == 0
    # A backlog of unlimited work that alone would fill every slot and the prefetch buffer
    # on every claim, for about 12 s on 2 slots.
    enqueue(fresh, 120, "sleep 0.2", "default", "d")
    enqueue(fresh, 3, "true", "lim", "lim")
    workers.start(1, "--concurrency", "2")
    wait_for(lambda: states(fresh, "lim") == {"completed": 3}, timeout=30,
             message="the limited queue's jobs done")
    backlog = states(fresh, "default")
    assert backlog.get("pending", 0) >= 30, f"the limited jobs waited for the backlog: {backlog}"
    hard_stop(workers)


def test_pausing_a_queue_stops_its_claims_and_resuming_restarts_them(fresh, cli, workers):
    fast_config(cli)
    # About 40 s of work on 4 slots, so p still has a backlog when the pause lands (the
    # `queue pause` command alone can take seconds to start on a loaded machine).
    enqueue(fresh, 300, "sleep 0.5", "p", "p")
    workers.start(2, "--concurrency", "2")
    wait_for(lambda: states(fresh, "p").get("completed", 0) >= 10, message="queue p flowing")
    assert cli("queue", "pause", "p").returncode == 0
    wait_out_open_transactions(fresh)  # claims in flight when the pause committed may land
    before = states(fresh, "p").get("pending", 0)
    time.sleep(2.0)  # the window in which no new claim may happen
    assert states(fresh, "p").get("pending", 0) == before
    assert before > 0
    listed = cli("queue", "list", "--json")
    assert '"paused": true' in listed.stdout
    assert cli("queue", "resume", "p").returncode == 0
    wait_for(lambda: states(fresh, "p").get("pending", 0) < before, timeout=3,
             message="claims from p restart after resume")


def test_a_worker_killed_mid_job_frees_its_slot_when_the_job_is_rescued(fresh, cli, workers,
                                                                         tmp_path):
    for key, value in {"heartbeat_interval": "0.3s", "lease_timeout": "2s",
                       "poll_interval": "0.2s"}.items():
        assert cli("config", "set", key, value).returncode == 0
    assert cli("queue", "set", "one", "--concurrency", "1").returncode == 0
    marker = tmp_path / "first-ran"
    store.enqueue_jobs(fresh, specs=[JobSpec("first", f"touch {marker}; sleep 30",
                                             max_retries=0, queue="one", priority=1)])
    victim = workers.start(1, "--queue", "one")[0]
    wait_for(marker.exists, message="the first job is running")
    store.enqueue_jobs(fresh, specs=[JobSpec("second", "true", max_retries=0, queue="one")])
    survivor = workers.start(1, "--queue", "one,other", "--concurrency", "2")[0]
    wait_for(lambda: len(store.status(fresh).workers) == 2, timeout=30,
             message="the second worker is up")
    time.sleep(1.0)  # the slot is taken: the second job must wait for the rescue
    assert store.get_job(fresh, job_id="second").state.value == "pending"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    wait_for(lambda: store.get_job(fresh, job_id="second").state.value == "completed",
             timeout=20, message="the second job runs once the first is rescued")
    first = store.get_job(fresh, job_id="first")
    second = store.get_job(fresh, job_id="second")
    assert first.state.value == "dead" and "lost" in (first.error or "")
    assert first.finished_at is not None and second.started_at is not None
    assert second.started_at >= first.finished_at
    assert survivor.poll() is None


def test_a_worker_claims_only_from_its_queues(fresh, cli, workers):
    fast_config(cli)
    enqueue(fresh, 5, "true", "mine", "m")
    enqueue(fresh, 5, "true", "theirs", "t")
    workers.start(1, "--queue", "mine")
    wait_for(lambda: states(fresh, "mine") == {"completed": 5}, message="own queue done")
    time.sleep(1.0)  # a poll or two: nothing of the other queue may be claimed
    assert states(fresh, "theirs") == {"pending": 5}


def test_concurrent_claims_never_exceed_the_limit(fresh):
    """Eight threads claim at once, again and again: the queue never holds more than its
    limit of processing jobs, and it fills up to the limit."""
    import threading

    store.set_queue_limits(fresh, name="tight", concurrency=3)
    for round_ in range(5):
        with fresh.begin() as conn:
            conn.execute(sa.text("DELETE FROM jobs"))
        enqueue(fresh, 30, "true", "tight", f"t{round_}")
        start = threading.Barrier(8)
        got: list[int] = []

        def claim(start: threading.Barrier, got: list[int]) -> None:
            start.wait()
            for _ in range(5):
                got.append(len(store.claim_jobs(fresh, worker_id=1, limit=4,
                                                lease_seconds=30)))

        threads = [threading.Thread(target=claim, args=(start, got)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(got) == 3, got
        assert states(fresh, "tight") == {"processing": 3, "pending": 27}


def test_a_faster_rate_applies_to_a_running_worker_at_its_next_claim(fresh, cli, workers):
    fast_config(cli)
    assert cli("queue", "set", "slow", "--rate", "1/h").returncode == 0
    enqueue(fresh, 2, "true", "slow", "slow")
    workers.start(1)
    wait_for(lambda: states(fresh, "slow") == {"completed": 1, "pending": 1}, timeout=30,
             message="the first start of the hour")
    assert cli("queue", "set", "slow", "--rate", "100/s").returncode == 0
    wait_for(lambda: states(fresh, "slow") == {"completed": 2}, timeout=10,
             message="the second job under the new rate, not an hour later")
