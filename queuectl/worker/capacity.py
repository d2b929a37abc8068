"""What this host can hand out when `worker start --resources` leaves a name out: `cpu` the
CPUs this process may run on, `memory` the physical memory (or the cgroup's limit, when that
is lower), `gpu` the NVIDIA GPUs that `nvidia-smi -L` lists (0 when there is no such command
or it fails), every other name 0.

Threading: called once, from the main thread, before a worker starts its slots.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from queuectl.core import resources

__all__ = ["detect", "gpu_indices", "host_capacity"]

_GPU_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),
                  Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def host_capacity(given: Mapping[str, int]) -> resources.Amounts:
    """`given` (from --resources), with cpu, memory and gpu detected where it is silent."""
    found = {**detect(skip=set(given)), **given}
    return dict(found)


def detect(*, skip: set[str] | None = None) -> resources.Amounts:
    """cpu, memory and gpu of this host, in base units (those in `skip` are not looked up)."""
    skip = skip or set()
    found: resources.Amounts = {}
    if resources.CPU not in skip:
        found[resources.CPU] = _cpus() * 1000
    if resources.MEMORY not in skip:
        found[resources.MEMORY] = _memory()
    if resources.GPU not in skip:
        found[resources.GPU] = len(gpu_indices())
    return found


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _memory() -> int:
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 0
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isascii() and text.isdigit() and 0 < int(text) < (physical or 2**62):
            return int(text)
    return max(physical, 0)


def gpu_indices(timeout: float = 10.0) -> list[int]:
    """The device indices `nvidia-smi -L` lists (`GPU 0: ...`), or [] without one."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return []
    try:
        done = subprocess.run([command, "-L"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:
        return []
    return sorted({int(n) for n in _GPU_LINE.findall(done.stdout)})
