"""The worker: claims jobs, runs them, records results; River's producer / executor /
completer shape, one part per module (see `process` for the map and the threading rules).

    Worker(EngineStore(engine), concurrency=4).run()
"""

from queuectl.worker.completer import Summary
from queuectl.worker.ports import EngineStore, Settings, Store
from queuectl.worker.process import Worker

__all__ = ["EngineStore", "Settings", "Store", "Summary", "Worker"]
