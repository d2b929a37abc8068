"""How a followed run that did not complete is reported (`logs -f`, `enqueue --follow`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from queuectl.cli import follow
from queuectl.core.records import Job, JobState


def job(state: JobState, *, attempts: int = 1, error: str | None = None) -> Job:
    return Job(id="6db8", command="echo hi", state=state, attempts=attempts, max_retries=3,
               priority=0, run_at=datetime(2026, 12, 3, 10, 0, tzinfo=UTC), timeout_ms=None,
               error=error)


@pytest.mark.parametrize(("ended", "line"), [
    (job(JobState.DEAD, attempts=3, error="exit code 1"),
     "job 6db8 ended dead after run 3 of at most 4: exit code 1"),
    (job(JobState.DEAD, attempts=1), "job 6db8 ended dead after run 1 of at most 4"),
    (job(JobState.CANCELLED, attempts=0, error="dependency 5a dead"),
     "job 6db8 ended cancelled: dependency 5a dead"),
    (job(JobState.PENDING, attempts=2, error="worker lost"),
     "job 6db8 is pending after run 2 of at most 4: worker lost"),
])
def test_a_run_that_did_not_complete_is_said_in_one_line(ended, line):
    assert follow.ending(ended) == line


def test_a_failed_run_says_when_it_is_retried_and_a_completed_one_says_nothing():
    line = follow.ending(job(JobState.FAILED, error="exit code 2"))
    assert line is not None
    assert line.startswith("job 6db8 failed after run 1 of at most 4; it will be retried at "
                           "2026-12-03 ")
    assert line.endswith(": exit code 2")
    assert follow.ending(job(JobState.COMPLETED)) is None


def test_the_ending_line_is_one_escaped_line_of_bounded_length():
    line = follow.ending(job(JobState.DEAD, error="x\x1b]0;t\x07\n" * 200))
    assert line is not None and "\n" not in line and "\x1b" not in line
    assert len(line) < 400
