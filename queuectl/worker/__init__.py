"""The worker: claims jobs, runs them, records results; River's producer / executor /
completer shape, one part per module (see `process` for the map and the threading rules).
`runner` turns one command into an outcome; `supervisor` starts and stops worker processes
(`worker start`), and imports neither the store nor SQLAlchemy.

    Worker(EngineStore(engine), concurrency=4).run()

The names below load on first use, so `queuectl.worker.supervisor` and `.runner` stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queuectl.worker.completer import Summary
    from queuectl.worker.ports import EngineStore, Settings, Store
    from queuectl.worker.process import Worker

__all__ = ["EngineStore", "Settings", "Store", "Summary", "Worker"]

_HOMES = {"Summary": "completer", "EngineStore": "ports", "Settings": "ports",
          "Store": "ports", "Worker": "process"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
