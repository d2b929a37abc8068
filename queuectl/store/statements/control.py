"""Steering jobs from any host: cancel, signal, pause, resume, retry; the fleet's claiming
switch; control requests for workers; live output chunks; stop requests."""

from __future__ import annotations

from queuectl.store.statements import Statement

__all__ = ["switch_claiming_paused"]

#: Whether `pause --all` holds.
switch_claiming_paused = Statement("switch_claiming_paused", """
    SELECT EXISTS (SELECT 1 FROM switches WHERE name = 'claiming' AND value = 'paused')
           AS paused""")
