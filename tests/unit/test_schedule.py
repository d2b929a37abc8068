"""Schedules as pure time arithmetic: cron fields in a zone (across DST changes), the
aliases, `@every` aligned to the epoch, the most recent missed tick, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from queuectl import errors
from queuectl.core import schedule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cron_fields_follow_the_zone_across_dst():
    paris = schedule.parse("0 9 * * *", "Europe/Paris")
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer (change on 29 March 2026).
    assert paris.next_tick(utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 7)
    assert paris.next_tick(utc(2026, 3, 27, 12)) == utc(2026, 3, 28, 8)
    assert paris.next_tick(utc(2026, 10, 24, 12)) == utc(2026, 10, 25, 8)


def test_a_time_that_dst_skips_runs_once_at_the_jump_like_debian_cron():
    skipped = schedule.parse("30 2 * * *", "Europe/Paris")  # 02:00-03:00 does not exist
    assert skipped.next_tick(utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1)  # 03:00 CEST
    assert skipped.next_tick(utc(2026, 3, 29, 1)) == utc(2026, 3, 30, 0, 30)


def test_a_time_that_dst_repeats_runs_once():
    repeated = schedule.parse("30 2 * * *", "Europe/Paris")  # 02:30 happens twice on 25 Oct
    first = repeated.next_tick(utc(2026, 10, 24, 12))
    assert first is not None
    assert repeated.next_tick(first) == utc(2026, 10, 26, 1, 30)


def test_the_zone_defaults_to_utc_and_aliases_mean_the_usual_fields():
    assert schedule.parse("@daily").next_tick(utc(2026, 1, 1, 5)) == utc(2026, 1, 2)
    assert schedule.parse("@hourly").next_tick(utc(2026, 1, 1, 5)) == utc(2026, 1, 1, 6)
    assert schedule.parse("@weekly").next_tick(utc(2026, 1, 1)) == utc(2026, 1, 4)  # Sunday
    assert schedule.parse("@monthly").next_tick(utc(2026, 1, 15)) == utc(2026, 2, 1)
    assert schedule.parse("@DAILY").text == "@daily"


def test_every_is_aligned_to_the_epoch_whatever_the_zone():
    every = schedule.parse("@every 20s", "Asia/Kolkata")
    assert every.every == 20
    assert every.next_tick(utc(2026, 1, 1, 0, 0, 5)) == utc(2026, 1, 1, 0, 0, 20)
    assert every.next_tick(utc(2026, 1, 1, 0, 0, 20)) == utc(2026, 1, 1, 0, 0, 40)
    assert every.latest_tick(utc(2026, 1, 1, 0, 0, 59)) == utc(2026, 1, 1, 0, 0, 40)
    assert schedule.parse("@every 2h").next_tick(utc(2026, 1, 1, 1)) == utc(2026, 1, 1, 2)
    assert schedule.parse("@every 5m").every == 300


def test_due_tick_is_the_most_recent_missed_one_never_a_backlog():
    every = schedule.parse("@every 2s")
    done = utc(2026, 1, 1, 0, 0, 0)
    assert every.due_tick(now=done + timedelta(seconds=1.9), done_until=done) is None
    assert every.due_tick(now=done + timedelta(seconds=2), done_until=done) == \
        done + timedelta(seconds=2)
    # Ten ticks missed: only the last one is due.
    assert every.due_tick(now=done + timedelta(seconds=21), done_until=done) == \
        done + timedelta(seconds=20)
    minute = schedule.parse("* * * * *")
    assert minute.due_tick(now=utc(2026, 1, 1, 3, 7, 30), done_until=utc(2026, 1, 1)) == \
        utc(2026, 1, 1, 3, 7)
    assert minute.latest_tick(utc(2026, 1, 1, 3, 7)) == utc(2026, 1, 1, 3, 7)
    # Never a tick in the future, in the last second before the next one either.
    assert minute.latest_tick(utc(2026, 1, 1, 3, 7, 59, 999_999)) == utc(2026, 1, 1, 3, 7)
    assert minute.latest_tick(utc(2026, 1, 1, 3, 7, 59, 500_000)) == utc(2026, 1, 1, 3, 7)
    paris = schedule.parse("0 9 * * *", "Europe/Paris")
    assert paris.latest_tick(utc(2026, 3, 29, 6, 59, 59, 900_000)) == utc(2026, 3, 28, 8)
    assert paris.latest_tick(utc(2026, 3, 29, 7)) == utc(2026, 3, 29, 7)


@pytest.mark.parametrize("text", [
    "", "   ", "* * * *", "* * * * * *", "61 * * * *", "* 24 * * *", "0 0 30 2 *",
    "@often", "@every", "@every 0s", "@every 10", "@every 5d", "@every -5s", "@every 1.5m",
    "@every 9999h", "x" * 300, "0 0 * * *\x00",
])
def test_invalid_schedules_are_one_usage_error(text):
    with pytest.raises(errors.UsageError) as info:
        schedule.parse(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("zone", ["", "Mars/Base", "../../etc/passwd", "/etc/localtime",
                                  "Europe/Paris\n", "x" * 100])
def test_invalid_zones_are_refused(zone):
    with pytest.raises(errors.UsageError, match="unknown time zone"):
        schedule.parse("@daily", zone)


@pytest.mark.parametrize("name", ["", "a b", "-x", "x/y", "é", "a" * 101])
def test_invalid_names_are_refused(name):
    with pytest.raises(errors.UsageError, match="invalid cron name"):
        schedule.check_name(name)


def test_templates_are_one_object_without_id_or_run_at():
    text, spec = schedule.parse_template('{"command": "echo hi",  "priority": 3}')
    assert text == '{"command": "echo hi", "priority": 3}' and spec.priority == 3
    for bad, message in [('[{"command": "x"}]', "not an array"),
                         ('{"command": "x", "id": "a"}', "'id' is not allowed"),
                         ('{"command": "x", "run_at": "2026-01-01"}', "'run_at' is not"),
                         ('{"command": ""}', "must not be empty"),
                         ('{"cmd": "x"}', "unknown field")]:
        with pytest.raises(errors.InvalidJob, match=message):
            schedule.parse_template(bad)


@pytest.mark.parametrize("text, zone", [("* * * * *", "UTC"), ("*/7 9-17 * * 1-5", "UTC"),
                                        ("30 2 * * *", "Europe/Paris"), ("@every 20s", "UTC"),
                                        ("@every 7m", "UTC"), ("0 * * * *", "Asia/Kolkata")])
def test_latest_and_next_tick_bracket_every_instant(text, zone):
    sched = schedule.parse(text, zone)
    at = utc(2026, 3, 27, 23, 58, 59, 250_000)
    for step in range(400):  # through the night of the spring DST change, odd offsets
        at += timedelta(seconds=977.3 if step % 2 else 0.9)
        latest, upcoming = sched.latest_tick(at), sched.next_tick(at)
        assert latest is not None and upcoming is not None
        assert latest <= at < upcoming, (at, latest, upcoming)
        assert sched.next_tick(latest) == upcoming, at


@pytest.mark.parametrize("text", ["@every ٥s", "@every ５m", "@every 1٠h", "@every 5ſ",
                                  "@every 5\u212a"])
def test_every_takes_ascii_digits_and_units_only(text):
    with pytest.raises(errors.UsageError, match="@every takes a whole number"):
        schedule.parse(text, "UTC")


def test_the_accepted_zones_are_the_bundled_ones_without_the_host_dependent_names():
    from zoneinfo import ZoneInfo

    zones = schedule.iana_zones()
    assert {"UTC", "Europe/Paris", "America/New_York"} <= zones
    assert not {"localtime", "posixrules", "Factory"} & zones
    assert not [z for z in zones if z.startswith(("posix/", "right/"))]
    for zone in zones:  # each loads here, from the bundled data if the host lacks it
        ZoneInfo(zone)
