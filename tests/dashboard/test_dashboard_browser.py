"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the real
`queuectl dashboard` process and database. Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from queuectl import store
from queuectl.core import queuespec
from queuectl.core.jobspec import JobSpec
from queuectl.db.models import JobState
from tests.conftest import wait_for
from tests.dashboard.helpers import XSS, chromium_path, scalar, screenshot_path, seed_standard

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None,
                       reason="needs Debian's chromium at /usr/bin/chromium "
                              "(apt-get install chromium) or QUEUECTL_TEST_CHROMIUM"),
]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 400, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page_at(browser):
    """A new page of the given viewport that fails the test on script errors or dialogs."""
    pages = []
    problems: list[str] = []

    def make(viewport=WIDE):
        page = browser.new_page(viewport=viewport)
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        pages.append(page)
        return page

    yield make
    for p in pages:
        p.close()
    assert problems == []


@pytest.fixture
def dashboard(serve, clean):
    seed_standard(clean)
    return serve()


def counts_on_page(page) -> dict[str, int]:
    values = page.locator("[data-count]")
    return {values.nth(i).get_attribute("data-count"):
            int(values.nth(i).inner_text().replace(",", "")) for i in range(values.count())}


def test_overview_counts_match_the_database(dashboard, clean, page_at):
    for name, viewport in (("overview", WIDE), ("overview-narrow", NARROW)):
        page = page_at(viewport)
        page.goto(dashboard.url + "/")
        page.wait_for_selector("[data-count=total]")
        expected = {s: scalar(clean, "SELECT count(*) FROM jobs WHERE state = :s", s=s)
                    for s in ("pending", "processing", "completed", "failed", "dead")}
        expected["total"] = scalar(clean, "SELECT count(*) FROM jobs")
        assert counts_on_page(page) == expected
        assert page.locator(".chart svg rect.bar").count() > 0
        assert page.locator(".stat", has_text="p95 duration").count() == 1
        page.screenshot(path=screenshot_path(name), full_page=True)


def test_overview_refreshes_without_reloading(dashboard, clean, page_at):
    page = page_at()
    page.goto(dashboard.url + "/")
    page.wait_for_selector("[data-count=total]")
    page.evaluate("window.__marker = 1")  # gone if the page reloads
    before = counts_on_page(page)["pending"]
    store.enqueue_jobs(clean, specs=[JobSpec("fresh", "true")])
    wait_for(lambda: counts_on_page(page)["pending"] == before + 1, timeout=15,
             message="the overview to show the new job")
    assert page.evaluate("window.__marker") == 1


def test_jobs_list_filters_and_searches(dashboard, page_at):
    for name, viewport in (("jobs", WIDE), ("jobs-narrow", NARROW)):
        page = page_at(viewport)
        page.goto(dashboard.url + "/#/jobs")
        page.wait_for_selector("tbody tr[data-id]")
        assert page.locator("tbody tr[data-id]").count() == 18
        page.screenshot(path=screenshot_path(name), full_page=True)
    page.click("[data-filter=dead]")
    wait_for(lambda: page.locator("tbody tr[data-id]").count() == 2, timeout=10,
             message="the dead filter")
    page.click("[data-filter=all]")
    page.fill("input[name=q]", "echo ok 1")
    page.press("input[name=q]", "Enter")
    wait_for(lambda: sorted(page.locator("tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")) == ["ok-01", "ok-10", "ok-11"],
        timeout=10, message="search results")


def test_job_page_shows_output_and_escapes_it(dashboard, page_at):
    for name, viewport in (("job", WIDE), ("job-narrow", NARROW)):
        page = page_at(viewport)
        page.goto(dashboard.url + "/#/jobs")
        page.click("tr[data-id=xss] a")
        page.wait_for_selector("#output")
        # The hostile text is shown as text: no script element, no alert (page_at checks).
        assert page.inner_text("#output").strip() == XSS
        assert page.inner_text("#command") == f"echo '{XSS}'"
        assert XSS in page.inner_text("#error")
        assert page.locator("main script").count() == 0
        assert "exit code" in page.inner_text("main").lower()
        page.screenshot(path=screenshot_path(name), full_page=True)

    page.goto(dashboard.url + "/#/jobs/ok-03")
    page.wait_for_selector("#output")
    assert page.inner_text("#output").strip() == "ok 3"


def test_retry_a_dead_job_from_the_dlq_page(dashboard, clean, page_at):
    page = page_at(NARROW)
    page.goto(dashboard.url + "/#/dlq")
    page.wait_for_selector("tr[data-id=dead-2]")
    page.screenshot(path=screenshot_path("dlq-narrow"), full_page=True)
    page = page_at(WIDE)
    page.goto(dashboard.url + "/#/dlq")
    page.wait_for_selector("tr[data-id=dead-2]")
    page.screenshot(path=screenshot_path("dlq"), full_page=True)
    page.click("tr[data-id=dead-2] button")
    wait_for(lambda: scalar(clean, "SELECT state FROM jobs WHERE id = 'dead-2'") == "pending",
             timeout=10, message="dead-2 to be pending in the database")
    page.wait_for_selector("#notice:has-text('moved back to pending')")
    wait_for(lambda: page.locator("tr[data-id=dead-2]").count() == 0, timeout=10,
             message="dead-2 to leave the DLQ list")
    page.screenshot(path=screenshot_path("dlq-after-retry"), full_page=True)


def test_config_page(dashboard, clean, page_at):
    store.set_config(clean, key="max_retries", value=5)
    for name, viewport in (("config", WIDE), ("config-narrow", NARROW)):
        page = page_at(viewport)
        page.goto(dashboard.url + "/#/config")
        page.wait_for_selector("tr[data-key=max_retries]")
        assert "5" in page.inner_text("tr[data-key=max_retries]")
        page.screenshot(path=screenshot_path(name), full_page=True)


def test_database_down_shows_a_banner(serve, page_at):
    server = serve(global_args=("--database-url", "postgresql://postgres@127.0.0.1:1/none"))
    page = page_at()
    page.goto(server.url + "/")
    page.wait_for_selector("#banner:not([hidden])")
    assert "cannot connect" in page.inner_text("#banner")
    page.screenshot(path=screenshot_path("database-down"), full_page=True)


def test_queues_page_shows_limits_and_pauses_a_queue(dashboard, clean, page_at):
    store.enqueue_jobs(clean, specs=[JobSpec(f"mail-{i}", "true", queue="mail")
                                     for i in range(4)])
    store.set_queue_limits(clean, name="mail", concurrency=2, rate=queuespec.parse_rate("10/m"))
    for name, viewport in (("queues", WIDE), ("queues-narrow", NARROW)):
        page = page_at(viewport)
        page.goto(dashboard.url + "/#/queues")
        page.wait_for_selector("tr[data-queue=mail]")
        row = page.inner_text("tr[data-queue=mail]")
        assert "0 / 2" in row and "10/m" in row and "claiming" in row
        assert page.locator("tr[data-queue=default]").count() == 1
        page.screenshot(path=screenshot_path(name), full_page=True)
    page.click("tr[data-queue=mail] button")
    wait_for(lambda: scalar(clean, "SELECT paused FROM queues WHERE name = 'mail'") is True,
             timeout=10, message="mail paused in the database")
    page.wait_for_selector("tr[data-queue=mail]:has-text('paused')")
    page.click("tr[data-queue=mail] button:has-text('Resume')")
    wait_for(lambda: scalar(clean, "SELECT paused FROM queues WHERE name = 'mail'") is False,
             timeout=10, message="mail resumed in the database")
    page.click("tr[data-queue=mail] a")  # the queue's jobs
    wait_for(lambda: page.locator("tbody tr[data-id]").count() == 4, timeout=10,
             message="the jobs page filtered by queue")
    assert page.input_value("select[name=queue]") == "mail"


def test_job_page_says_what_a_job_waits_for(dashboard, clean, page_at):
    store.enqueue_jobs(clean, specs=[
        JobSpec("build", "true", run_at=None), JobSpec("lint", "true"),
        JobSpec("deploy", "true", unique_key="deploy-prod", after=["build", "lint"])])
    store.cancel_jobs(clean, ids=["lint"], signal=15)
    store.enqueue_jobs(clean, specs=[JobSpec("ship", "true", after=["build"])])
    page = page_at()
    page.goto(dashboard.url + "/#/jobs/ship")
    page.wait_for_selector("#waiting-for")
    assert page.locator("#waiting-for").inner_text() == "build (pending)"
    page.goto(dashboard.url + "/#/jobs/deploy")
    page.wait_for_selector("text=dependency lint ended cancelled")
    assert page.locator("#waiting-for").count() == 0
    assert page.locator("dd", has_text="deploy-prod").count() == 1


def test_cron_page_runs_pauses_and_resumes_a_schedule(serve, clean, page_at):
    with clean.begin() as conn:
        conn.exec_driver_sql("TRUNCATE cron")
    store.add_cron(clean, name="nightly", schedule_text="30 2 * * *", zone="Europe/Paris",
                   template=json.dumps({"command": f"echo '{XSS}'"}))
    store.add_cron(clean, name="often", schedule_text="@every 5m", zone="UTC",
                   template='{"command": "true"}')
    server = serve()
    page = page_at()
    page.goto(server.url + "/#/cron")
    row = page.locator("tr[data-name=nightly]")
    row.wait_for()
    assert "30 2 * * * (Europe/Paris)" in row.inner_text()
    assert XSS in row.locator("code").inner_text()  # shown as text, not run
    assert page.locator("tr[data-name]").count() == 2

    row.locator("[data-action=run]").click()
    page.wait_for_selector("#notice:has-text('Cron nightly: job')")
    job_id = wait_for(lambda: store.list_crons(clean)[0].last_job_id, message="a job")
    page.wait_for_selector(f"tr[data-name=nightly] a[title='{job_id}']")
    row.locator("[data-action=pause]").click()
    page.wait_for_selector("tr[data-name=nightly] [data-action=resume]")
    assert store.list_crons(clean)[0].paused
    assert "paused" in row.inner_text()
    page.screenshot(path=screenshot_path("cron"), full_page=True)
    row.locator("[data-action=resume]").click()
    page.wait_for_selector("tr[data-name=nightly] [data-action=pause]")
    assert not store.list_crons(clean)[0].paused

    page.click(f"tr[data-name=nightly] a[title='{job_id}']")
    page.wait_for_selector("#cron-name")
    assert page.inner_text("#cron-name") == "nightly"
    narrow = page_at(NARROW)
    narrow.goto(server.url + "/#/cron")
    narrow.wait_for_selector("tr[data-name=often]")
    narrow.screenshot(path=screenshot_path("cron-narrow"), full_page=True)


def test_job_page_shows_the_current_run_and_the_last_runs_end_apart(serve, clean, page_at):
    store.enqueue_jobs(clean, specs=[JobSpec("again", "exit 1")])
    [first] = store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=60)
    store.finish_runs(clean, results=[store.RunResult(
        "again", first.run_id, JobState.FAILED, 1, "exited with code 1", "", False, 0.5,
        retry_delay=0.0)], worker_id=1)
    store.claim_jobs(clean, worker_id=1, limit=1, lease_seconds=60)  # its second run
    url = serve().url
    page = page_at()
    page.goto(url + "/#/jobs/again")
    page.wait_for_selector("#last-run")
    fields = dict(zip(page.locator("dl.fields dt").all_inner_texts(),
                      page.locator("dl.fields dd").all_inner_texts(), strict=True))
    assert fields["Run"] == "run 2 of at most 4"
    assert (fields["Finished"], fields["Duration"], fields["Exit code"]) == \
        ("– (running)", "– (running)", "–")
    assert fields["Last run ended"].endswith(" ago; took 500 ms, exit code 1")
    page.goto(url + "/#/jobs")
    page.wait_for_selector("tr[data-id=again]")
    assert "run 2 of at most 4" in page.inner_text("tr[data-id=again]")
    page.goto(url + "/")
    page.wait_for_selector("text=in the last hour")
    assert "1 run in the last hour" in page.inner_text("main")  # its first run, failed
