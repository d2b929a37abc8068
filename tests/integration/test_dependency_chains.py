"""Long dependency chains and refused results, with real workers: a chain of any length whose
head fails is cancelled (no trigger recursion per link), a chain runs to completion, and a
result the server refuses never stops a worker from finishing and claiming other jobs."""

import sqlalchemy as sa

from queuectl import store
from queuectl.core.jobspec import JobSpec
from tests.conftest import wait_for

CHAIN = 10_000


def fast_config(cli):
    for key, value in {"poll_interval": "0.2s", "heartbeat_interval": "1s"}.items():
        assert cli("config", "set", key, value).returncode == 0


def chain(prefix, n, head="true", **head_kw):
    return [JobSpec(f"{prefix}0", head, **head_kw)] + [
        JobSpec(f"{prefix}{i}", "true", after=[f"{prefix}{i - 1}"]) for i in range(1, n)]


def counts(engine, prefix):
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT state, count(*) FROM jobs WHERE id LIKE :p "
                                    "GROUP BY state"), {"p": prefix + "%"}).all()
    return dict(rows)


def test_a_10000_link_chain_whose_head_fails_is_cancelled_while_a_probe_completes(
        clean, cli, workers):
    fast_config(cli)
    store.enqueue_jobs(clean, specs=chain("c", CHAIN, head="exit 3", max_retries=0))
    store.enqueue_jobs(clean, specs=[JobSpec("probe", "true")])
    workers.start(1)
    wait_for(lambda: counts(clean, "c") == {"dead": 1, "cancelled": CHAIN - 1}, timeout=180,
             message="the chain cancelled")
    wait_for(lambda: store.get_job(clean, job_id="probe").state.value == "completed",
             timeout=30, message="the probe completed")
    assert store.get_job(clean, job_id=f"c{CHAIN - 1}").error == \
        f"dependency c{CHAIN - 2} ended cancelled"
    store.enqueue_jobs(clean, specs=[JobSpec("after", "true")])  # still claiming
    wait_for(lambda: store.get_job(clean, job_id="after").state.value == "completed",
             timeout=30, message="a job enqueued later completed")
    assert "database unavailable" not in workers.logs()


def test_cancel_of_the_head_of_a_10000_link_chain_cancels_it_all(clean, cli):
    store.enqueue_jobs(clean, specs=chain("h", CHAIN))
    done = cli("cancel", "h0", timeout=180)
    assert done.returncode == 0, done.stderr
    assert counts(clean, "h") == {"cancelled": CHAIN}
    assert store.get_job(clean, job_id="h1").error == "dependency h0 ended cancelled"


def test_a_10000_link_chain_is_released_link_by_link(clean):
    """Each completion releases the next link only (one level), for 10,000 links. The links
    are completed by a server-side loop, not by workers: 10,000 sequential runs cost a
    worker round trip and a wake-up each, too slow for a test on a shared machine; the next
    test runs a shorter chain on a real worker."""
    store.enqueue_jobs(clean, specs=chain("k", CHAIN))
    with clean.begin() as conn:
        conn.execute(sa.text(f"""
            DO $$
            BEGIN
                FOR i IN 0..{CHAIN - 1} LOOP
                    UPDATE jobs SET state = 'completed', finished_at = now()
                    WHERE id = 'k' || i AND state = 'pending';
                    IF NOT FOUND THEN
                        RAISE EXCEPTION 'link % was not released', i;
                    END IF;
                END LOOP;
            END
            $$"""))
    assert counts(clean, "k") == {"completed": CHAIN}


def test_a_chain_runs_to_completion_on_a_real_worker_while_a_probe_completes(
        clean, cli, workers, tmp_path):
    ledger = tmp_path / "ledger"
    n = 200
    store.enqueue_jobs(clean, specs=[
        JobSpec(f"r{i}", f"echo r{i} >> {ledger}", after=[f"r{i - 1}"] if i else [])
        for i in range(n)])
    fast_config(cli)
    workers.start(1, "--concurrency", "2")
    wait_for(lambda: counts(clean, "r").get("completed", 0) >= 10, timeout=60)
    store.enqueue_jobs(clean, specs=[JobSpec("probe", "true")])
    wait_for(lambda: store.get_job(clean, job_id="probe").state.value == "completed",
             timeout=30, message="the probe completed")
    assert counts(clean, "r").get("completed", 0) < n  # meanwhile
    wait_for(lambda: counts(clean, "r") == {"completed": n}, timeout=240,
             message="the chain completed")
    assert ledger.read_text().split() == [f"r{i}" for i in range(n)]


_REFUSE = """
CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'test refuses job %', NEW.id;
END
$$;
CREATE TRIGGER test_refuse BEFORE UPDATE OF state ON jobs FOR EACH ROW
WHEN (NEW.id IN ('refused', 'uncancellable')
      AND NEW.state IN ('completed', 'cancelled'))
EXECUTE FUNCTION test_refuse();
"""


def refusing(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER IF EXISTS test_refuse ON jobs; "
                             "DROP FUNCTION IF EXISTS test_refuse()"))
        conn.execute(sa.text(_REFUSE))


def unrefusing(engine):
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER test_refuse ON jobs; DROP FUNCTION test_refuse()"))


def test_a_refused_result_never_stops_a_worker_from_finishing_others(clean, cli, workers):
    """A server error that is not a lost connection is not an outage: the worker writes the
    batch one result at a time, the refused job goes to the DLQ with the server's error, and
    the other results, claims and heartbeats go on."""
    refusing(clean)
    try:
        fast_config(cli)
        store.enqueue_jobs(clean, specs=[JobSpec("refused", "true")] + [
            JobSpec(f"ok{i}", "true") for i in range(40)])
        workers.start(1, "--concurrency", "4")
        wait_for(lambda: store.get_job(clean, job_id="refused").state.value == "dead",
                 timeout=60, message="the refused job dead")
        wait_for(lambda: counts(clean, "ok") == {"completed": 40}, timeout=60,
                 message="the others completed")
        job = store.get_job(clean, job_id="refused")
        assert job.error.startswith("the database refused this run's result: database error "
                                    "at ")
        assert job.error.endswith(": test refuses job refused (SQLSTATE P0001)")
        store.enqueue_jobs(clean, specs=[JobSpec("probe", "true")])
        wait_for(lambda: store.get_job(clean, job_id="probe").state.value == "completed",
                 timeout=30, message="a job enqueued later completed")
        [worker] = store.list_workers(clean, live_within=3.0)
        assert worker.state == "running"
        logs = workers.logs()
        assert "database unavailable" not in logs and "writing each alone" in logs
    finally:
        unrefusing(clean)


def test_a_refused_cancel_is_a_database_error_not_an_outage(clean, cli):
    refusing(clean)
    try:
        store.enqueue_jobs(clean, specs=[JobSpec("uncancellable", "true")])
        done = cli("cancel", "uncancellable")
    finally:
        unrefusing(clean)
    assert done.returncode == 1
    assert "test refuses job uncancellable (SQLSTATE P0001)" in done.stderr
    assert "cannot connect" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
