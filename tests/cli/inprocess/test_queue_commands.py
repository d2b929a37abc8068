"""`queue list/set/pause/resume`, the `queue` job field in `enqueue`, `list`, `show` and
`--json`, and bad queue input, in process."""

from __future__ import annotations

import json

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


def queues(cli) -> dict[str, dict]:
    result = cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {q["name"]: q for q in json.loads(result.stdout)}


def test_queue_field_shows_in_list_show_and_json(fresh, cli):
    assert cli("enqueue", '{"id": "e1", "command": "true", "queue": "emails"}').returncode == 0
    assert cli("enqueue", '{"id": "d1", "command": "true"}').returncode == 0
    assert json.loads(cli("show", "e1", "--json").stdout)["queue"] == "emails"
    assert json.loads(cli("show", "d1", "--json").stdout)["queue"] == "default"
    assert "queue:" in cli("show", "e1").stdout and "emails" in cli("show", "e1").stdout
    listing = cli("list")
    assert "QUEUE" in listing.stdout.splitlines()[0]
    only = json.loads(cli("list", "--queue", "emails", "--json").stdout)
    assert [j["id"] for j in only] == ["e1"]
    assert queues(cli)["emails"]["pending"] == 1 and queues(cli)["default"]["pending"] == 1


def test_set_pause_resume_and_list(fresh, cli):
    result = cli("queue", "set", "emails", "--concurrency", "3", "--rate", "100/m")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "queue emails: concurrency 3, rate 100/m"
    assert queues(cli)["emails"] == {"name": "emails", "pending": 0, "running": 0,
                                     "failed": 0, "dead": 0, "concurrency": 3,
                                     "rate": "100/m", "paused": False}
    assert cli("queue", "set", "emails", "--rate", "none").returncode == 0
    assert queues(cli)["emails"]["rate"] is None
    assert queues(cli)["emails"]["concurrency"] == 3  # left as it was
    assert cli("queue", "set", "emails", "--concurrency", "none", "--rate", "5/h"
               ).returncode == 0
    assert (queues(cli)["emails"]["concurrency"], queues(cli)["emails"]["rate"]) == (None, "5/h")
    assert cli("queue", "pause", "emails").returncode == 0
    assert queues(cli)["emails"]["paused"] is True
    assert "yes" in cli("queue", "list").stdout
    assert cli("queue", "resume", "emails").returncode == 0
    assert queues(cli)["emails"]["paused"] is False


@pytest.mark.parametrize("args", [
    ["queue", "set", "q", "--rate", "0/s"],
    ["queue", "set", "q", "--rate", "5/fortnight"],
    ["queue", "set", "q", "--rate", "five/s"],
    ["queue", "set", "q", "--concurrency", "-1"],
    ["queue", "set", "q", "--concurrency", "0"],
    ["queue", "set", "q", "--concurrency", "1.5"],
    ["queue", "set", "q", "--concurrency", "５"],
    ["queue", "set", "q", "--concurrency", "2147483648"],
    ["queue", "set", "q", "--rate", "٥/s"],
    ["queue", "set", "q", "--rate", "2147483648/s"],
    ["queue", "set", "q"],
    ["queue", "set", "bad name", "--concurrency", "2"],
    ["queue", "set", "x" * 65, "--concurrency", "2"],
    ["queue", "pause", "a/b"],
    ["queue", "resume", ""],
    ["list", "--queue", "no way"],
    ["worker", "start", "--queue", "ok,not ok"],
    ["worker", "start", "--queue", ""],
    ["enqueue", '{"command": "true", "queue": "has space"}'],
    ["enqueue", '{"command": "true", "queue": ""}'],
    ["enqueue", '{"command": "true", "queue": 7}'],
    ["enqueue", '{"command": "true", "queue": null}'],
    ["enqueue", '[{"command": "true"}, {"command": "true", "queue": "' + "y" * 65 + '"}]'],
], ids=lambda a: " ".join(a)[:60])
def test_bad_queue_input_is_one_line_exit_2_and_writes_nothing(fresh, cli, args):
    result = cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    with fresh.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM queues")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar() == 0


def claim(engine: sa.Engine, queue: str) -> list[str]:
    """A worker's next claim (the ordinary one, which fills limited queues), from `queue`."""
    return [c.id for c in store.claim_jobs(engine, worker_id=None, limit=5, lease_seconds=30,
                                           queues=[queue])]


def test_a_changed_rate_applies_at_the_next_claim(fresh, cli):
    store.enqueue_jobs(fresh, specs=[JobSpec(f"slow-{i}", "true", queue="slow")
                                     for i in range(4)])
    assert cli("queue", "set", "slow", "--rate", "1/h").returncode == 0
    assert claim(fresh, "slow") == ["slow-0"]
    assert claim(fresh, "slow") == []  # the next start is an hour away
    assert cli("queue", "set", "slow", "--rate", "100/s").returncode == 0
    # 100/s spaces starts 10 ms after the last one: the next claim (or one a moment later)
    # takes the second job, not one in an hour.
    assert wait_for(lambda: claim(fresh, "slow"), timeout=5,
                    message="a claim under the new rate") == ["slow-1"]
    assert cli("queue", "set", "slow", "--rate", "1/h").returncode == 0
    assert claim(fresh, "slow") == []  # slower again: an hour after the last start
    assert cli("queue", "set", "slow", "--rate", "none").returncode == 0
    assert claim(fresh, "slow") == ["slow-2", "slow-3"]


def test_a_rate_set_again_after_none_starts_at_once(fresh, cli):
    store.enqueue_jobs(fresh, specs=[JobSpec(f"r-{i}", "true", queue="r") for i in range(2)])
    assert cli("queue", "set", "r", "--rate", "1/h").returncode == 0
    assert claim(fresh, "r") == ["r-0"]
    assert cli("queue", "set", "r", "--rate", "none").returncode == 0
    assert cli("queue", "set", "r", "--rate", "1/h").returncode == 0
    assert claim(fresh, "r") == ["r-1"]  # no rate in between: nothing to space from


@pytest.mark.parametrize(("args", "message"), [
    (["--rate", "2147483648/s"], "invalid rate '2147483648/s': N must be a whole number from 1 "
                                 "to 2147483647"),
    (["--rate", "٥/s"], "invalid rate '٥/s': use N/PERIOD"),
    (["--concurrency", "５"], "invalid concurrency '５': use a whole number from 1 to "
                             "2147483647, or none"),
    (["--concurrency", "2147483648"], "invalid concurrency '2147483648': use a whole number "
                                      "from 1 to 2147483647, or none"),
])
def test_numbers_out_of_range_or_not_ascii_say_so(fresh, cli, args, message):
    result = cli("queue", "set", "q", *args)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {message}"), result.stderr


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_pause_or_resume_of_a_queue_that_does_not_exist_exits_1_and_writes_nothing(
        fresh, cli, command):
    result = cli("queue", command, "nosuch")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no queue named 'nosuch': no job names it and it "
                                    "has no settings"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert queues(cli) == {}
    # A queue that jobs name, or that has settings, exists.
    store.enqueue_jobs(fresh, specs=[JobSpec("m1", "true", queue="mail")])
    assert cli("queue", command, "mail").returncode == 0
    assert cli("queue", "set", "later", "--concurrency", "1").returncode == 0
    assert cli("queue", command, "later").returncode == 0
    assert set(queues(cli)) == {"mail", "later"}


def test_queue_remove_refuses_unfinished_jobs_and_deletes_only_settings(fresh, cli):
    assert cli("queue", "set", "q", "--concurrency", "2", "--rate", "5/m").returncode == 0
    assert cli("queue", "pause", "q").returncode == 0
    store.enqueue_jobs(fresh, specs=[JobSpec("q1", "true", queue="q"),
                                     JobSpec("q2", "true", queue="q")])
    refused = cli("queue", "remove", "q")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == ("error: queue 'q' has 2 unfinished job(s) (pending, waiting, "
                              "held, failed or running); remove it once they have finished "
                              "or been cancelled\n")
    assert queues(cli)["q"]["paused"] is True  # nothing changed
    assert cli("cancel", "q1").returncode == 0
    with fresh.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET state = 'completed', finished_at = now() "
                             "WHERE id = 'q2'"))
    removed = cli("queue", "remove", "q")
    assert (removed.returncode, removed.stdout) == (0, "queue q removed: its settings are "
                                                       "gone\n")
    # Its finished jobs still name it: listed, without settings.
    assert queues(cli)["q"] == {"name": "q", "pending": 0, "running": 0, "failed": 0,
                                "dead": 0, "concurrency": None, "rate": None, "paused": False}
    again = cli("queue", "remove", "q")
    assert again.returncode == 1
    assert again.stderr.startswith("error: queue 'q' has no settings to remove")


def test_queue_remove_of_a_queue_with_settings_only_or_none(fresh, cli):
    assert cli("queue", "set", "ahead", "--rate", "1/s").returncode == 0
    assert cli("queue", "remove", "ahead").returncode == 0
    assert queues(cli) == {}
    missing = cli("queue", "remove", "nosuch")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no queue named 'nosuch'")
    assert cli("queue", "remove", "bad name").returncode == 2
