"""Cron schedules on a real database with real worker processes: one job per tick across the
fleet, also while two leaders race and across a leader change; catch-up after an outage is
one job; pause and resume; the store's calls."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa

from queuectl import errors, store
from tests.conftest import wait_for


@pytest.fixture
def crons(clean: sa.Engine) -> sa.Engine:
    with clean.begin() as conn:
        conn.execute(sa.text("TRUNCATE cron"))
    return clean


@pytest.fixture
def tick_log(crons: sa.Engine) -> Iterator[Callable[[str], dict[str, datetime]]]:
    """What the schedule recorded for each job it enqueued: the leader spends a tick
    (`cron.done_until = tick`) and names its job (`cron.last_job_id`) in one transaction, and
    a trigger copies that pair aside; returns a reader, schedule name -> {job id: tick}. A tick
    enqueued late under load keeps its tick, which the job's creation time does not."""
    with crons.begin() as conn:
        conn.execute(sa.text("""
            CREATE TABLE test_cron_tick_log (name text, tick timestamptz, job_id text);
            CREATE FUNCTION test_cron_tick_log() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO test_cron_tick_log VALUES (NEW.name, NEW.done_until,
                                                       NEW.last_job_id);
                RETURN NULL;
            END $$;
            CREATE TRIGGER test_cron_tick_log AFTER UPDATE OF last_job_id ON cron
                FOR EACH ROW EXECUTE FUNCTION test_cron_tick_log();
        """))

    def read(name: str) -> dict[str, datetime]:
        with crons.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT job_id, tick FROM test_cron_tick_log WHERE name = :n"), {"n": name})
            return {r.job_id: r.tick for r in rows}

    yield read
    with crons.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER test_cron_tick_log ON cron; "
                             "DROP FUNCTION test_cron_tick_log(); DROP TABLE test_cron_tick_log"))


def fast_fleet(cli) -> None:
    """Config for tests that kill a leader: a successor takes over within about 2 s."""
    for key, value in {"heartbeat_interval": "0.3s", "lease_timeout": "2s",
                       "poll_interval": "0.2s"}.items():
        assert cli("config", "set", key, value).returncode == 0


def cron_jobs(engine: sa.Engine, name: str) -> list[datetime]:
    """Creation times (database clock) of the jobs schedule `name` enqueued, oldest first."""
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT created_at FROM jobs WHERE cron_name = :n ORDER BY created_at"),
            {"n": name}).scalars())


def cron_job_ids(engine: sa.Engine, name: str) -> list[str]:
    """The ids of the jobs schedule `name` enqueued."""
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT id FROM jobs WHERE cron_name = :n"),
                                 {"n": name}).scalars())


def ticks(created: list[datetime], period: int) -> list[int]:
    """The tick (epoch multiple of `period`) each job belongs to: a job is created after its
    tick and well before the next one."""
    return [int(c.timestamp() // period) for c in created]


def db_now(engine: sa.Engine) -> float:
    with engine.connect() as conn:
        return float(conn.execute(sa.text("SELECT extract(epoch FROM clock_timestamp())")
                                  ).scalar_one())


def add(engine: sa.Engine, name: str, text: str, command: str = "true") -> None:
    store.add_cron(engine, name=name, schedule_text=text, zone="UTC",
                   template=json.dumps({"command": command}))


def make_due(engine: sa.Engine, name: str) -> None:
    """Pretend the schedule was spent up to a minute ago, so a tick is due now."""
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE cron SET done_until = now() - interval '61 seconds' "
                             "WHERE name = :n"), {"n": name})


def test_racing_passes_enqueue_a_due_tick_once(crons):
    add(crons, "race", "* * * * *")
    for _ in range(15):
        make_due(crons, "race")
        before = len(cron_jobs(crons, "race"))
        barrier = threading.Barrier(6)
        results: list[store.CronPass] = []

        def leader(barrier: threading.Barrier = barrier,
                   results: list[store.CronPass] = results) -> None:
            barrier.wait()
            results.append(store.enqueue_due_crons(crons))

        threads = [threading.Thread(target=leader) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sum(len(r.enqueued) for r in results) == 1
        assert len(cron_jobs(crons, "race")) == before + 1
        assert all(r.next_in is not None and 0 < r.next_in <= 60 for r in results), results


def test_the_store_refuses_unknown_and_duplicate_names(crons):
    add(crons, "one", "@hourly")
    with pytest.raises(errors.DuplicateCron):
        add(crons, "one", "@daily")
    assert store.list_crons(crons)[0].schedule == "@hourly"
    for call in (lambda: store.remove_cron(crons, name="two"),
                 lambda: store.run_cron(crons, name="two"),
                 lambda: store.set_cron_paused(crons, name="two", paused=True)):
        with pytest.raises(errors.CronNotFound):
            call()


def test_resume_skips_the_ticks_missed_while_paused(crons):
    add(crons, "p", "* * * * *")
    make_due(crons, "p")
    store.set_cron_paused(crons, name="p", paused=True)
    assert store.enqueue_due_crons(crons).enqueued == []
    cron = store.set_cron_paused(crons, name="p", paused=False)
    assert store.enqueue_due_crons(crons).enqueued == []
    assert cron.next_run is not None and cron.next_run.timestamp() > db_now(crons) - 1


def test_a_tick_from_before_a_replace_is_not_enqueued(crons):
    add(crons, "r", "* * * * *")
    make_due(crons, "r")
    store.add_cron(crons, name="r", schedule_text="@every 1h", zone="UTC",
                   template='{"command": "true"}', replace=True)
    assert store.enqueue_due_crons(crons).enqueued == []


def test_three_workers_enqueue_each_tick_once_and_pause_stops_them(crons, cli, workers):
    fast_fleet(cli)
    add(crons, "every2", "@every 2s")
    workers.start(3)
    wait_for(lambda: len(cron_jobs(crons, "every2")) >= 4, timeout=30,
             message="four ticks enqueued")
    made = ticks(cron_jobs(crons, "every2"), 2)
    assert len(made) == len(set(made)) and made == list(range(made[0], made[0] + len(made)))
    # Each job starts within about a second of its tick (but the first, which may be a tick
    # from before the leader's first pass, caught up late).
    with crons.connect() as conn:
        late = conn.execute(sa.text(
            "SELECT max(late) FROM (SELECT extract(epoch FROM started_at) - "
            "floor(extract(epoch FROM created_at) / 2) * 2 AS late FROM jobs "
            "WHERE cron_name = 'every2' AND started_at IS NOT NULL "
            "ORDER BY created_at OFFSET 1) AS t")).scalar_one()
    assert late is not None and float(late) < 1.0, late

    assert cli("cron", "pause", "every2").returncode == 0
    paused_at = db_now(crons)
    count = len(cron_jobs(crons, "every2"))
    wait_for(lambda: db_now(crons) > paused_at + 5, timeout=10, message="two ticks passing")
    assert len(cron_jobs(crons, "every2")) == count
    assert cli("cron", "resume", "every2").returncode == 0
    wait_for(lambda: len(cron_jobs(crons, "every2")) > count, timeout=10,
             message="ticks again after resume")


def test_after_an_outage_only_the_latest_missed_tick_is_enqueued(crons, cli, workers):
    fast_fleet(cli)
    add(crons, "catchup", "@every 2s")
    workers.start(2)
    wait_for(lambda: len(cron_jobs(crons, "catchup")) >= 2, timeout=30,
             message="two ticks enqueued")
    workers.stop()
    before = ticks(cron_jobs(crons, "catchup"), 2)
    stopped = db_now(crons)
    wait_for(lambda: db_now(crons) > stopped + 7, timeout=15, message="3+ ticks missed")
    workers.start(2)
    wait_for(lambda: len(cron_jobs(crons, "catchup")) >= len(before) + 3, timeout=30,
             message="catch-up and two more ticks")
    after = ticks(cron_jobs(crons, "catchup"), 2)[len(before):]
    # One job for the missed ticks (the most recent one), then one per tick again.
    assert after[0] - before[-1] >= 3
    assert after == list(range(after[0], after[0] + len(after)))


def test_killing_the_leader_does_not_enqueue_a_tick_twice(crons, tick_log, cli, workers):
    fast_fleet(cli)
    add(crons, "lc", "@every 1s")
    procs = workers.start(3)
    wait_for(lambda: len(cron_jobs(crons, "lc")) >= 3, timeout=30, message="ticks")

    def leader_pid() -> int | None:
        result = cli("status", "--json")
        leaders = [w["pid"] for w in json.loads(result.stdout)["workers"] if w["leader"]]
        return leaders[0] if len(leaders) == 1 else None

    for _ in range(2):  # two leader changes
        pid = wait_for(leader_pid, timeout=20, message="one leader")
        assert isinstance(pid, int) and pid in {p.pid for p in procs}
        os.kill(pid, signal.SIGKILL)
        count = len(cron_jobs(crons, "lc"))
        wait_for(lambda old=pid: (leader_pid() or old) != old, timeout=20,
                 message="a new leader")
        wait_for(lambda n=count: len(cron_jobs(crons, "lc")) >= n + 3, timeout=20,
                 message="the new leader enqueues ticks")
    ticked = tick_log("lc")
    assert set(ticked) == set(cron_job_ids(crons, "lc"))  # every job came from a spent tick
    made = Counter(ticked.values())
    assert max(made.values()) == 1, made


@pytest.mark.slow
def test_every_20s_for_3_minutes_with_3_workers_makes_one_job_per_tick(crons, cli, workers):
    add(crons, "every20", "@every 20s", command="echo tick")
    workers.start(3)

    def leaders() -> int:
        result = cli("status", "--json")
        return sum(w["leader"] for w in json.loads(result.stdout)["workers"])

    wait_for(lambda: leaders() == 1, timeout=30, message="a leader")
    start = db_now(crons)  # ticks from here on; one before may have been caught up late
    wait_for(lambda: db_now(crons) > start + 180, timeout=200, interval=1,
             message="three minutes")
    end = db_now(crons)
    first = int(start // 20) + 1
    with crons.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT floor(extract(epoch FROM created_at) / 20)::bigint AS tick, "
            "extract(epoch FROM started_at) - floor(extract(epoch FROM created_at) / 20) * 20 "
            "AS late FROM jobs WHERE cron_name = 'every20' ORDER BY created_at")).all()
    made = [r.tick for r in rows if r.tick >= first]
    expected = list(range(first, int(end // 20) + 1))
    assert made == expected or made == expected[:-1], (made, expected)  # last may be in flight
    assert len(made) >= 8
    late = [float(r.late) for r in rows if r.tick >= first and r.late is not None]
    assert len(late) >= 8 and max(late) < 1.0, late


def test_the_leader_sees_a_new_schedule_at_once_not_at_its_next_heartbeat(crons, cli, workers):
    for key, value in {"lease_timeout": "60s", "heartbeat_interval": "10s"}.items():
        assert cli("config", "set", key, value).returncode == 0
    workers.start(1)

    def leads() -> bool:
        result = cli("status", "--json")
        return any(w["leader"] for w in json.loads(result.stdout)["workers"])

    wait_for(leads, timeout=30, message="the worker leads (at its first heartbeat)")
    assert cli("cron", "add", "new", "@every 1s", '{"command": "true"}').returncode == 0
    # From when the schedule was added (its row's creation, database clock), not from before
    # the CLI's process started: under load its start-up alone can take seconds.
    with crons.connect() as conn:
        added = conn.execute(sa.text("SELECT extract(epoch FROM created_at) FROM cron "
                                     "WHERE name = 'new'")).scalar_one()
    wait_for(lambda: cron_jobs(crons, "new"), timeout=8, message="the first tick's job")
    first = cron_jobs(crons, "new")[0].timestamp()
    assert first - float(added) < 4.0  # the next tick, not the next heartbeat (10 s)
