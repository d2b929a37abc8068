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
