"""Keeps a long-running worker's resident memory flat.

glibc raises its mmap threshold each time a large block (such as a job's 1 MiB output tail)
is freed, so later blocks of that size come from the heap and their pages stay resident
after they are freed: jobs printing 100 MB each grew a worker by about 12 MB. Fixing the
threshold at 256 KiB keeps such blocks mmapped, returned to the system when freed.

Threading: call `bound_heap` once, from the main thread, before the slot threads start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["MMAP_THRESHOLD", "bound_heap"]

MMAP_THRESHOLD = 256 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def bound_heap() -> bool:
    """Fix glibc's mmap threshold (no-op elsewhere); True if it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
