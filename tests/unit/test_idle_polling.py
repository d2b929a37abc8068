"""Issue 15 worker parts with the in-memory fakes (no database): an idle worker's polls back
off (jittered) up to poll_interval and reset on work; the shared Backoff's floor; live output
of a huge run is read in bounded pieces."""

from __future__ import annotations

import logging
import time

import pytest

from queuectl.db import reconnect
from queuectl.worker import streams
from queuectl.worker.producer import Producer, Waker
from queuectl.worker.runner import MAX_OUTPUT
from tests.unit.fakes import FakeRunner, FakeStore

log = logging.getLogger("test")


def producer(rand: float) -> Producer:
    gate = reconnect.Gate(name="t", log=log)
    return Producer(FakeStore(), gate, Waker(), concurrency=4, listen=False,
                    rand=lambda: rand)


def test_idle_waits_double_up_to_poll_interval_and_reset_when_jobs_are_claimed():
    p = producer(1.0)
    assert [p.idle_timeout(2.0) for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    p.claimed()
    assert p.idle_timeout(2.0) == 0.25


def test_idle_waits_are_jittered_within_the_upper_half_of_each_step():
    low, high = producer(0.0), producer(0.999)
    lows = [low.idle_timeout(1.0) for _ in range(5)]
    highs = [high.idle_timeout(1.0) for _ in range(5)]
    assert lows == [0.0625, 0.125, 0.25, 0.5, 0.5]
    assert all(lo < hi <= 1.0 for lo, hi in zip(lows, highs, strict=True))


def test_idle_wait_ends_at_the_earliest_known_due_time():
    p = producer(1.0)
    for _ in range(5):
        p.idle_timeout(10.0)
    p.note_due(time.time() + 0.5)
    assert 0.0 < p.idle_timeout(10.0) <= 0.5


def test_backoff_floor_keeps_delays_in_the_upper_part_and_full_jitter_stays_default():
    full = reconnect.Backoff(first=1.0, cap=8.0, rand=lambda: 0.0)
    assert [full.next_delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    equal = reconnect.Backoff(first=1.0, cap=8.0, rand=lambda: 0.0, floor=0.5)
    assert [equal.next_delay() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


# --- live output of a run printing far more than the store keeps ---------------------------

class _Chatty(FakeRunner):
    """A runner whose one running job (key 7) has written `size` bytes of 'x'."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.reads: list[tuple[int, int]] = []

    def output_size(self, key: object) -> int | None:
        return self.size if key == 7 else None

    def read_output(self, key: object, offset: int, limit: int) -> bytes | None:
        self.reads.append((offset, limit))
        return b"x" * max(0, min(limit, self.size - offset))


def test_streams_read_only_the_last_mib_of_a_huge_unread_output():
    runner = _Chatty(100_000_000)
    db = FakeStore()
    clock = [100.0]
    s = streams.Streams(db, reconnect.Gate(name="t", log=log), runner, clock=lambda: clock[0])
    s.poll([(7, "big", 2.0)])
    assert runner.reads == [(100_000_000 - MAX_OUTPUT, MAX_OUTPUT)]
    s.flush()
    assert sum(len(text) for _, _, text in db.output) == MAX_OUTPUT
    runner.size += 10
    clock[0] += 2.0
    s.poll([(7, "big", 4.0)])
    assert runner.reads[-1] == (100_000_000, 10)  # then it follows from where it was


def test_bound_heap_sets_the_mmap_threshold_on_glibc():
    import platform

    from queuectl.worker import memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert memory.bound_heap() is True
