"""The benchmark's pure helpers (bench/qbench): parsing /proc and the peers' timestamps."""

from __future__ import annotations

from qbench import idleclaim, peers, rss  # bench/ is on pytest's pythonpath (pyproject.toml)


def test_cpu_ms_adds_user_and_system_time_after_a_command_name_with_spaces():
    # pid (comm) state ppid ... field 14 utime=250, field 15 stime=50 (clock ticks)
    fields = ["S"] + ["0"] * 10 + ["250", "50"] + ["0"] * 30
    line = "4242 (postgres: a) b) " + " ".join(fields)
    import os

    assert idleclaim.cpu_ms(line) == 300 * 1000 / os.sysconf("SC_CLK_TCK")


def test_status_kb_reads_one_field():
    text = "Name:\tpython\nVmHWM:\t  52000 kB\nVmRSS:\t  41000 kB\n"
    assert rss.status_kb(text, "VmRSS") == 41000
    assert rss.status_kb(text, "VmHWM") == 52000
    assert rss.status_kb(text, "VmSwap") is None


def test_latencies_pair_jobs_by_index_and_skip_the_missing():
    enqueued = "0 1000000000\n1 2000000000\n2 3000000000\n"
    started = "1 2004500000\n0 1002000000\n"
    assert peers.latencies(enqueued, started) == [2.0, 4.5]


def test_idle_claim_ratio_uses_the_worst_level_beside_the_backlog_and_the_reference():
    rows = [{"due": 0, "future": 1_000_000, "p50_ms": 0.5},
            {"due": 10, "future": 1_000_000, "p50_ms": 3.0},
            {"due": 10, "future": 1_000_000, "p50_ms": 5.0},  # higher-priority backlog
            {"due": 10_000, "future": 0, "p50_ms": 2.0}]
    assert idleclaim.ratio(rows) == 2.5  # the worst variant
    assert idleclaim.ratio(rows[:3]) is None
