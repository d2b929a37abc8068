"""Pure formatting for people and scripts, and the quick store's shared constants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from queuectl import serialize
from queuectl.cli import output


def test_quick_store_notifies_the_channel_workers_listen_on():
    from queuectl.store import _common, quick

    assert quick.NOTIFY_CHANNEL == _common.NOTIFY_CHANNEL


@pytest.mark.parametrize(("tz", "shown"), [
    ("UTC", "2026-11-22 05:13:52 +00:00"),
    ("Europe/Paris", "2026-11-22 06:13:52 +01:00"),
    ("America/St_Johns", "2026-11-22 01:43:52 -03:30"),
])
def test_times_for_people_are_local_with_the_offset(monkeypatch, tz, shown):
    import time

    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert output.fmt_time(datetime(2026, 11, 22, 5, 13, 52, tzinfo=UTC)) == shown
        assert output.fmt_time(datetime(5, 6, 15, tzinfo=UTC)).startswith("0005-06-1")
        assert output.fmt_time(None) == "-"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_json_times_stay_utc(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    when = datetime(2026, 11, 22, 5, 13, 52, tzinfo=UTC)
    assert serialize.iso(when) == "2026-11-22T05:13:52+00:00"


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # OSC: would retitle the window
    ("a\nb\rc\td", "a\\nb\\rc\\td"),
    ("\x00\x1f\x7f", "\\x00\\x1f\\x7f"),
    ("\x80\x9b\x9f", "\\x80\\x9b\\x9f"),  # C1, the one-byte CSI among them
    ("é ü \xa0 ✓ 日本", "é ü \xa0 ✓ 日本"),  # printable text, NBSP included, stays
    ("C:\\x1b", "C:\\x1b"),  # a backslash in the text is not doubled
])
def test_escape_writes_out_every_control_character(raw, shown):
    assert output.escape(raw) == shown


def test_escape_keeps_what_it_is_told_to():
    assert output.escape("one\n\ttwo\x1b[0m\r", keep="\n\t") == "one\n\ttwo\\x1b[0m\\r"


def test_no_control_character_survives_escape():
    text = "".join(map(chr, range(0x200)))
    assert not [c for c in output.escape(text) if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0]


def test_short_writes_newlines_out_and_never_cuts_an_escape():
    assert output.short("echo a\necho b") == "echo a\\necho b"
    assert output.short("a  \t b") == "a \\t b"
    for n in range(3, 12):
        cut = output.short("abcd\x1befgh\x1bijkl", n)
        assert len(cut) <= n and cut.endswith("…")
        assert not cut[:-1].endswith(("\\", "\\x", "\\x1")), cut


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.1234, "0.123s"), (12.34, "12.3s"), (245, "4m05s"), (3599.6, "1h00m"),
    (11_220, "3h07m"), (86_400 * 2 + 5 * 3600, "2d05h"), (86_400 * 99.99, "99d23h"),
    (86_400 * 739_215 + 7, "739,215d"), (-245, "-4m05s"),
    (None, "-"), (float("nan"), "-"), (float("inf"), "-"),
])
def test_durations_read_in_human_units_up_to_days(seconds, shown):
    assert output.fmt_duration(seconds) == shown


def test_an_age_since_year_1_renders_in_days_and_9999_years_never_overflow():
    since_year_1 = (datetime(2026, 12, 3, tzinfo=UTC) - datetime(1, 1, 1, tzinfo=UTC))
    assert output.fmt_duration(since_year_1.total_seconds()) == f"{since_year_1.days:,}d"
    longest = datetime(9999, 12, 31, tzinfo=UTC) - datetime(1, 1, 1, tzinfo=UTC)
    assert output.fmt_duration(longest.total_seconds()) == f"{longest.days:,}d"
