"""Concurrent `dlq retry` of one job: exactly one reports success."""

import subprocess

import sqlalchemy as sa

from tests.conftest import QUEUECTL, ROOT, wait_for


def waiting_on_locks(engine, n: int) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'")).scalar() >= n


def test_only_the_retry_that_moved_the_job_reports_success(clean, cli, env):
    assert cli("enqueue", '{"command": "false", "id": "race"}').returncode == 0
    with clean.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = 'dead', attempts = 4 WHERE id = 'race'"))
    holder = clean.connect()
    try:
        # Hold the row so that every retry reads "dead" and then queues on the same UPDATE.
        holder.execute(sa.text("SELECT 1 FROM jobs WHERE id = 'race' FOR UPDATE"))
        procs = [subprocess.Popen([*QUEUECTL, "dlq", "retry", "race"], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        wait_for(lambda: waiting_on_locks(clean, 3), message="three retries queued on the row")
    finally:
        holder.rollback()
        holder.close()
    results = [(p.wait(30), *p.communicate()) for p in procs]
    winners = [r for r in results if r[0] == 0]
    assert len(winners) == 1, results
    assert winners[0][1] == "Job race moved back to pending\n"
    for code, out, err in (r for r in results if r[0] != 0):
        assert (code, out) == (1, "")
        assert err == ("error: job race is no longer dead: another retry moved it back to "
                       "pending first\n")
