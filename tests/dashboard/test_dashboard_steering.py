"""Steering from the dashboard in a real browser, against real workers: the job page streams
a running job's output, and its Pause, Resume, Cancel and Retry buttons act on the job; the
overview shows when claiming is paused fleet-wide and resumes it."""

from __future__ import annotations

import pytest

from queuectl import store
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import wait_for
from tests.dashboard.helpers import scalar, screenshot_path
from tests.dashboard.test_dashboard_browser import browser, page_at  # noqa: F401 (fixtures)
from tests.dashboard.test_dashboard_browser import pytestmark as browser_marks

pytestmark = browser_marks


def state(engine, job_id: str) -> JobState:
    return store.get_job(engine, job_id=job_id).state


@pytest.fixture
def busy(serve, clean, cli, workers):
    for key, value in {"poll_interval": "0.2s", "heartbeat_interval": "0.5s"}.items():
        assert cli("config", "set", key, value).returncode == 0
    workers.start(1)
    return serve()


def test_job_page_streams_output_and_steers_the_job(busy, clean, page_at):  # noqa: F811
    store.enqueue_jobs(clean, specs=[JobSpec(
        "streamer", "for i in $(seq 1 400); do echo tick $i; sleep 0.1; done")])
    page = page_at()
    page.goto(busy.url + "/#/jobs/streamer")
    page.wait_for_selector("#output:has-text('tick 12')", timeout=20_000)
    assert state(clean, "streamer") is JobState.PROCESSING  # live, not after the end
    page.screenshot(path=screenshot_path("job-live-output"), full_page=True)

    page.click("#pause")
    wait_for(lambda: scalar(clean, "SELECT paused_at IS NOT NULL FROM jobs "
                                   "WHERE id = 'streamer'"), message="paused in the database")
    page.wait_for_selector("#resume")
    page.click("#resume")
    wait_for(lambda: scalar(clean, "SELECT paused_at IS NULL FROM jobs WHERE id = 'streamer'"),
             message="resumed in the database")

    page.wait_for_selector("#cancel")
    page.click("#cancel")
    wait_for(lambda: state(clean, "streamer") is JobState.CANCELLED, timeout=10,
             message="cancelled by its worker")
    page.wait_for_selector(".badge.s-cancelled", timeout=10_000)
    page.wait_for_selector("#retry")
    page.screenshot(path=screenshot_path("job-cancelled"), full_page=True)
    page.click("#retry")
    wait_for(lambda: state(clean, "streamer") in (JobState.PENDING, JobState.PROCESSING),
             message="retried")
    assert store.cancel_jobs(clean, ids=["streamer"], signal=15)


def test_overview_shows_paused_claiming_and_resumes_it(busy, clean, cli, page_at):  # noqa: F811
    assert cli("pause", "--all").returncode == 0
    page = page_at()
    page.goto(busy.url + "/")
    page.wait_for_selector("#claiming-paused")
    page.screenshot(path=screenshot_path("overview-claiming-paused"), full_page=True)
    page.click("#resume-claiming")
    wait_for(lambda: not store.claiming_paused(clean), message="claiming resumed")
    page.wait_for_selector("#claiming-paused", state="detached")
