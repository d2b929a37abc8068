"""The small app of `queuectl metrics serve`: job counts for scrapers, without the dashboard.

    GET /metrics        Prometheus text, the same series as the dashboard's /metrics
                        (JSON instead when the request's Accept names application/json)
    GET /metrics.json   the object `queuectl metrics --json` prints

It reuses the dashboard's access policy (`security.Guard`), its outage gate (503 JSON with
Retry-After while the database is away, without a database call) and its error answers.

Threading: handlers are plain functions, run in the thread pool like the dashboard's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from queuectl import serialize, store
from queuectl.dashboard import answers, metrics, outage, security

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["create_app", "wants_json"]

_VARY = {"Vary": "Accept"}  # one address, two formats: caches must keep them apart


def wants_json(accept: str) -> bool:
    """True when an Accept header asks for application/json (and does not refuse it with
    q=0); Prometheus' own Accept never names it."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() != "application/json":
            continue
        q = next((p.split("=", 1)[1] for p in params if p.lower().startswith("q=")), "1")
        try:
            return float(q) > 0
        except ValueError:
            return True
    return False


def create_app(engine: sa.Engine, *, guard: security.Guard, window_minutes: int) -> FastAPI:
    """The metrics app on `engine`, protected by `guard`; the JSON's runs, throughput and
    durations cover the last `window_minutes` minutes."""
    app = FastAPI(title="queuectl metrics", version="1", openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.outage = outage.OutageGate()
    app.middleware("http")(app.state.outage.middleware)
    app.middleware("http")(guard.middleware)  # added last: runs first
    answers.install(app)
    registry = metrics.registry_for(engine)

    def report() -> dict[str, Any]:
        return serialize.metrics_json(store.dashboard_overview(
            engine, window_minutes=window_minutes, running_limit=0))

    @app.get("/metrics", response_class=Response)
    def prometheus(request: Request) -> Response:
        if wants_json(request.headers.get("accept", "")):
            return JSONResponse(report(), headers=_VARY)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST,
                        headers=_VARY)

    @app.get("/metrics.json")
    def as_json() -> dict[str, Any]:
        return report()

    return app
