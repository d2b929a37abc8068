"""The host's capacity a worker detects for the names `--resources` leaves out (a stand-in
`nvidia-smi` on PATH plays the GPUs)."""

from __future__ import annotations

import os
import stat

import pytest

from queuectl.worker import capacity


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    """Put an `nvidia-smi` on PATH that prints `listing` and exits `code`."""
    def install(listing: str, code: int = 0) -> None:
        script = tmp_path / "nvidia-smi"
        (tmp_path / "listing").write_text(listing)
        script.write_text(f"#!/bin/sh\ncat '{tmp_path / 'listing'}'\nexit {code}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return install


def test_gpus_are_the_devices_nvidia_smi_lists(fake_smi):
    fake_smi("GPU 0: NVIDIA A100 (UUID: GPU-a)\nGPU 1: NVIDIA A100 (UUID: GPU-b)\n"
             "  MIG 1g.5gb Device 0: (UUID: MIG-c)\nGPU 3: NVIDIA A100 (UUID: GPU-d)\n")
    assert capacity.gpu_indices() == [0, 1, 3]
    assert capacity.detect()["gpu"] == 3


def test_no_gpus_when_nvidia_smi_fails_or_is_missing(fake_smi, monkeypatch, tmp_path):
    fake_smi("NVIDIA-SMI has failed because it couldn't communicate with the driver\n", 9)
    assert capacity.gpu_indices() == []
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert capacity.gpu_indices() == []


def test_cpu_and_memory_come_from_the_host():
    found = capacity.detect()
    assert found["cpu"] == len(os.sched_getaffinity(0)) * 1000
    assert 0 < found["memory"] <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_what_the_user_gives_wins_and_is_not_looked_up(fake_smi):
    fake_smi("GPU 0: x\nGPU 1: y\n")
    assert capacity.host_capacity({"gpu": 1, "licence": 5})["gpu"] == 1
    assert capacity.host_capacity({})["gpu"] == 2
    assert capacity.detect(skip={"cpu", "memory", "gpu"}) == {}
