"""The dashboard's queue depth and oldest waiting job (the overview, /metrics) read the due
jobs only, as the claim does: a big schedule of future jobs costs them nothing."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from queuectl import store
from queuectl.store.statements import Statement
from queuectl.store.statements import dashboard as dashboard_sql

FUTURE = 50_000

_LOAD = sa.text("""
    INSERT INTO jobs (id, command, state, max_retries, queue, run_at)
    SELECT :prefix || g, 'true', :state, 0, (ARRAY['default', 'mail', 'later'])[1 + g % :queues],
           now() + :offset_s * interval '1 second' + g * interval '1 millisecond'
    FROM generate_series(1, :n) AS g""")


@pytest.fixture
def schedule(clean):
    """FUTURE pending jobs due tomorrow in three queues; due ones in two: 7 pending in
    `default` and `mail`, 2 failed ones whose backoff is over, 5 held (not claimable)."""
    with clean.begin() as conn:
        for prefix, state, queues, offset, n in (("f", "pending", 3, 86_400, FUTURE),
                                                  ("d", "pending", 2, -3_600, 7),
                                                  ("r", "failed", 2, -60, 2),
                                                  ("h", "held", 2, -7_200, 5)):
            conn.execute(_LOAD, {"prefix": prefix, "state": state, "queues": queues,
                                 "offset_s": offset, "n": n})
    with clean.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE jobs"))
    return clean


def _buffers(engine: sa.Engine, statement: Statement) -> int:
    with engine.connect() as conn:
        lines = [r[0] for r in conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql)]
    top = next(ln for ln in lines if ln.strip().startswith("Buffers:"))
    return sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", top))


def test_depth_and_oldest_count_the_due_jobs_of_every_queue(schedule):
    overview = store.dashboard_overview(schedule)
    assert overview.queue_depth == 9
    assert overview.oldest_waiting_age is not None
    assert 3_600 < overview.oldest_waiting_age < 3_700
    metrics = store.collect_metrics(schedule)
    assert (metrics.queue_depth, metrics.queue_depths) == (9, {"default": 4, "mail": 5,
                                                               "later": 0})


@pytest.mark.parametrize("statement", [dashboard_sql.job_count_waiting,
                                       dashboard_sql.queue_count_due], ids=lambda s: s.name)
def test_the_future_schedule_is_not_read(schedule, statement):
    # A scan of every claimable job reads the 50,000 future ones: about 190 index pages.
    # The skip scan reads one probe per queue and the due range: about 20.
    assert _buffers(schedule, statement) < 60
