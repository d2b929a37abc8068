"""The dashboard during a database outage: the first request that finds the database away
answers 503, and so does every request after it, at once and without touching the database,
until the shared reconnect policy (`reconnect.Gate`: full-jitter backoff up to 10 s) allows the
next attempt. So a page polling every 3 s, or a Prometheus scraper, cannot turn into a
connection storm while the server is down or restarting.

Threading: handlers run in FastAPI's thread pool; the gate has its own lock."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from queuectl.db import reconnect

__all__ = ["OutageGate"]

log = logging.getLogger("queuectl.dashboard")

_DATABASE_PATHS = ("/api/", "/metrics")
_NO_DATABASE = ("/api/openapi.json",)


class OutageGate:
    """Answers 503 without a database call while the database is known to be away."""

    def __init__(self) -> None:
        self.gate = reconnect.Gate(name="dashboard", log=log)
        self._last_error = ""

    def failed(self, exc: BaseException) -> None:
        """A request found the database away."""
        self._last_error = str(exc)
        self.gate.failed(exc)

    async def middleware(self, request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Short-circuit database requests while backing off; note a success."""
        path = request.url.path
        uses_database = path.startswith(_DATABASE_PATHS) and path not in _NO_DATABASE
        if uses_database and not self.gate.ready():
            wait = self.gate.wait_time()
            return JSONResponse(
                {"error": f"{self._last_error} (next try in {wait:.1f}s)"}, status_code=503,
                headers={"Retry-After": str(max(1, math.ceil(wait)))})
        response = await call_next(request)
        if uses_database and response.status_code < 500:
            self.gate.succeeded()
        return response
