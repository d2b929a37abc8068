"""The outage gate says why the database is still away when the reason changes (a restarted
server that came back read-only), once per new reason, without resetting the backoff."""

import functools
import logging

import pytest

from queuectl import errors
from queuectl.db import reconnect

log = logging.getLogger("test")


def away(reason: str) -> None:
    raise errors.DatabaseUnavailable(reason)


def test_a_new_reason_is_logged_once_and_the_backoff_goes_on(caplog):
    now = [0.0]
    g = reconnect.Gate(name="w", log=log, clock=lambda: now[0],
                       backoff=reconnect.Backoff(rand=lambda: 1.0))
    reasons = ["terminating connection"] * 3 + ["no writable server among 2 hosts"] * 4
    waits = []
    with caplog.at_level(logging.WARNING):
        for reason in reasons:
            now[0] += g.wait_time()
            waits.append(g.wait_time())
            with pytest.raises(reconnect.Offline):
                g.call(functools.partial(away, reason))
            waits.append(g.wait_time())
    messages = [r.message for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("w: database unavailable (terminating connection)")
    assert "still unavailable" in messages[1] and "(4 attempts)" in messages[1]
    assert messages[1].endswith("no writable server among 2 hosts")
    assert [round(w, 3) for w in waits[1::2]] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4]
    assert g.down
