"""The in-process runner itself: it refuses what these tests must not do, and leaves nothing
of one invocation to the next (see conftest.py)."""

from __future__ import annotations

import os

import pytest

from tests.cli.inprocess.guards import StartedAProcess, TouchedTheDatabase


def test_a_command_in_a_test_without_a_database_fails_the_test(cli):
    with pytest.raises(TouchedTheDatabase):
        cli("status")


def test_starting_workers_in_process_fails_the_test(clean, cli):
    with pytest.raises(StartedAProcess):
        cli("worker", "start", "--daemon")
    with pytest.raises(StartedAProcess):
        cli("worker", "run")


def test_the_environment_and_time_zone_are_put_back(cli):
    before = (os.environ.get("TZ"), os.environ.get("QUEUECTL_DATABASE_URL"))
    assert cli("--version", extra_env={"TZ": "Asia/Kolkata"}).returncode == 0
    assert (os.environ.get("TZ"), os.environ.get("QUEUECTL_DATABASE_URL")) == before


def test_each_invocation_warns_like_a_fresh_process(clean, cli):
    from tests.cli.test_config_fallback import store_raw

    store_raw(clean, {"poll_interval": "1e-05"})
    for _ in range(2):
        assert "poll_interval = '1e-05' is unusable" in cli("config", "list").stderr
