"""The dashboard's FastAPI application: the page, the JSON API it uses, and `/metrics`.

Handlers are plain functions, so FastAPI runs them in its thread pool and a slow database
never blocks the event loop. Store errors become JSON `{"error": ...}` answers (503 when the
database cannot answer) which the page shows as a banner; the server keeps serving.
"""

from __future__ import annotations

import base64
import binascii
import json
import signal
import socket
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from queuectl import errors, serialize, store
from queuectl.core import configkeys, queuespec, schedule
from queuectl.core.records import JobState
from queuectl.dashboard import answers, metrics, outage, routing, security

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["create_app"]

STATIC = Path(__file__).resolve().parent / "static"
_MAX_PAGE = 200
_STATES = [s.value for s in JobState]
_DASHBOARD_CLIENT = f"the dashboard on {socket.gethostname()}"

def create_app(engine: sa.Engine, *, guard: security.Guard) -> FastAPI:
    """The dashboard application on `engine`, protected by `guard`."""
    app = FastAPI(
        title="queuectl dashboard", version="1", openapi_url="/api/openapi.json",
        # Swagger UI and ReDoc load their assets from a CDN; the dashboard works offline.
        docs_url=None, redoc_url=None, responses=answers.responses(),
    )
    # Every route below matches the path as sent: an id holding `%2F` stays one id.
    app.router.route_class = routing.RawPathRoute
    app.state.outage = outage.OutageGate()
    app.middleware("http")(app.state.outage.middleware)
    app.middleware("http")(guard.middleware)  # added last: runs first
    answers.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    registry = metrics.registry_for(engine)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/health", summary="Whether the database answers")
    def health() -> dict[str, Any]:
        store.count_states(engine)
        return {"ok": True}

    @app.get("/api/overview", summary="Counts, throughput, durations, waiting, workers")
    def overview() -> dict[str, Any]:
        return _overview_json(store.dashboard_overview(engine))

    @app.get("/api/jobs", summary="Jobs, newest first, one keyset page at a time",
             responses=answers.responses(400))
    def jobs(
        state: str | None = Query(None, description="pending, processing, completed, "
                                  "failed or dead", json_schema_extra={"enum": _STATES}),
        q: str | None = Query(None, max_length=500, description="id prefix or command text"),
        queue: str | None = Query(None, max_length=64, description="only jobs of this queue"),
        cursor: str | None = Query(None, max_length=2000,
                                   description="next_cursor of the previous page"),
        limit: int = Query(50, ge=1, le=_MAX_PAGE),
    ) -> dict[str, Any]:
        page = store.page_jobs(engine, state=JobState.parse(state),
                               search=_text(q, "q").strip() or None,
                               before=_decode_cursor(cursor), limit=limit + 1,
                               queue=None if not queue else queuespec.check_name(queue))
        more = len(page) > limit
        page = page[:limit]
        next_cursor = _encode_cursor(page[-1]) if more else None
        return {"jobs": [serialize.job_json(j) for j in page], "next_cursor": next_cursor}

    @app.get("/api/jobs/{job_id}/output",
             summary="Live output chunks of a job's current run, after chunk id `after`",
             responses=answers.responses(400, 404))
    def live_output(job_id: str, after: int = Query(0, ge=0)) -> dict[str, Any]:
        read = store.read_output(engine, job_id=_job_id(job_id), after=after)
        return {"id": read.job.id, "state": read.job.state.value, "run_id": read.run_id,
                "chunks": [[i, text] for i, text in read.chunks]}

    @app.get("/api/jobs/{job_id}", summary="One job with its output, and the state of "
             "each job in its `after` list (`dependencies`)",
             responses=answers.responses(400, 404))
    def job(job_id: str) -> dict[str, Any]:
        found = store.get_job(engine, job_id=_job_id(job_id))
        deps = store.get_dependencies(engine, job_id=found.id) if found.after else []
        return {**_job_answer(found),
                "dependencies": [{"id": i, "state": s.value} for i, s in deps]}

    @app.post("/api/jobs/{job_id}/retry",
              summary="Put a finished job (dead, completed, cancelled) back to pending",
              responses=answers.responses(400, 403, 404, 409))
    def retry(job_id: str) -> dict[str, Any]:
        return _steered(store.retry_jobs(engine, ids=[_job_id(job_id)])[0])

    @app.post("/api/jobs/{job_id}/cancel",
              summary="Cancel a job: a waiting one at once, a running one wherever it runs",
              responses=answers.responses(400, 403, 404, 409))
    def cancel(job_id: str) -> dict[str, Any]:
        return _steered(store.cancel_jobs(engine, ids=[_job_id(job_id)],
                                          signal=signal.SIGTERM)[0])

    @app.post("/api/jobs/{job_id}/pause",
              summary="Pause a job: SIGSTOP a running one, hold a waiting one",
              responses=answers.responses(400, 403, 404, 409))
    def pause(job_id: str) -> dict[str, Any]:
        return _steered(store.pause_jobs(engine, ids=[_job_id(job_id)])[0])

    @app.post("/api/jobs/{job_id}/resume", summary="Resume a paused or held job",
              responses=answers.responses(400, 403, 404, 409))
    def resume(job_id: str) -> dict[str, Any]:
        return _steered(store.resume_jobs(engine, ids=[_job_id(job_id)])[0])

    @app.post("/api/fleet/pause", summary="Stop claiming across the fleet",
              responses=answers.responses(403))
    def fleet_pause() -> dict[str, bool]:
        store.set_claiming(engine, paused=True, client=_DASHBOARD_CLIENT)
        return {"claiming_paused": True}

    @app.post("/api/fleet/resume", summary="Restart claiming across the fleet",
              responses=answers.responses(403))
    def fleet_resume() -> dict[str, bool]:
        store.set_claiming(engine, paused=False)
        return {"claiming_paused": False}

    @app.get("/api/queues", summary="Named queues: counts, limits, paused")
    def queues() -> dict[str, Any]:
        return {"queues": [serialize.queue_json(q) for q in store.list_queues(engine)]}

    @app.post("/api/queues/{name}/pause", summary="Stop claiming from a queue, fleet-wide",
              responses=answers.responses(400, 403, 404))
    def queue_pause(name: str) -> dict[str, Any]:
        return serialize.queue_json(store.pause_queue(engine, name=queuespec.check_name(name)))

    @app.post("/api/queues/{name}/resume", summary="Claim from a paused queue again",
              responses=answers.responses(400, 403, 404))
    def queue_resume(name: str) -> dict[str, Any]:
        return serialize.queue_json(store.resume_queue(engine, name=queuespec.check_name(name)))

    def _steered(answer: store.Steered) -> dict[str, Any]:
        job = store.get_job(engine, job_id=answer.job_id)
        return {**_job_answer(job), "note": answer.note}

    @app.post("/api/dlq/retry", summary="Move every dead job back to pending",
              responses=answers.responses(403))
    def retry_all() -> dict[str, int]:
        return {"retried": store.retry_all_dead(engine)}

    @app.get("/api/cron", summary="Cron schedules with their next and last run")
    def crons() -> dict[str, Any]:
        return {"crons": [serialize.cron_json(c) for c in store.list_crons(engine)]}

    @app.post("/api/cron/{name}/run", summary="Enqueue a schedule's job now",
              responses=answers.responses(403, 404))
    def cron_run(name: str) -> dict[str, str]:
        return {"job_id": store.run_cron(engine, name=_cron_name(name))}

    @app.post("/api/cron/{name}/pause", summary="Stop a schedule's ticks",
              responses=answers.responses(403, 404))
    def cron_pause(name: str) -> dict[str, Any]:
        return serialize.cron_json(store.set_cron_paused(engine, name=_cron_name(name),
                                                         paused=True))

    @app.post("/api/cron/{name}/resume",
              summary="Let a paused schedule tick again (ticks missed meanwhile are skipped)",
              responses=answers.responses(403, 404))
    def cron_resume(name: str) -> dict[str, Any]:
        return serialize.cron_json(store.set_cron_paused(engine, name=_cron_name(name),
                                                         paused=False))

    @app.get("/api/config", summary="Current settings")
    def config() -> dict[str, Any]:
        values = store.load_config(engine)
        return {"settings": [
            {"key": k.name, "value": configkeys.format_value(values[k.name]), "unit": k.unit,
             "default": configkeys.format_value(k.default), "help": k.help}
            for k in configkeys.KEYS.values()
        ]}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def prometheus() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _job_answer(job: Any) -> dict[str, Any]:
    """One job as its page and the steering answers give it: the job's JSON, plus its runs
    told apart. `finished_at`, `duration` and `exit_code` are those of the latest run that
    ended, also while the next one runs or after a retry: `last_run` says so, and
    `current_run` (null unless processing) is the run in progress (`started_at` null while it
    is claimed, not started)."""
    current = None
    if job.state is JobState.PROCESSING:
        current = {"number": job.attempts, "at_most": job.max_retries + 1,
                   "started_at": serialize.iso(job.started_at)}
    last = None
    if job.finished_at is not None:
        last = {"finished_at": serialize.iso(job.finished_at), "duration": job.duration,
                "exit_code": job.exit_code}
    return {**serialize.job_json(job), "current_run": current, "last_run": last}


def _text(value: str | None, name: str) -> str:
    """A text parameter PostgreSQL can hold (no NUL), or a usage error (400)."""
    if value and "\x00" in value:
        raise errors.UsageError(f"{name} must not contain NUL characters")
    return value or ""


def _job_id(job_id: str) -> str:
    """No job id holds a NUL (enqueue refuses it): such an id names no job (404)."""
    if "\x00" in job_id:
        raise errors.JobNotFound(f"no job with id or id prefix {job_id!r}")
    return job_id


def _cron_name(name: str) -> str:
    """A name no schedule can have (cron add refuses it) names no schedule (404)."""
    try:
        return schedule.check_name(name)
    except errors.UsageError:
        raise errors.CronNotFound(f"no cron schedule named {name!r}") from None


def _encode_cursor(job: Any) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, job_id = json.loads(raw)
        if not isinstance(created, str) or not isinstance(job_id, str) or "\x00" in job_id:
            raise TypeError("not a cursor")
        return datetime.fromisoformat(created), job_id
    except (ValueError, TypeError, RecursionError, binascii.Error):
        raise errors.UsageError("invalid cursor; start again from the first page") from None


def _overview_json(ov: store.Overview) -> dict[str, Any]:
    finished = sum(m.completed + m.failed + m.dead for m in ov.throughput)
    failures = sum(m.failed + m.dead for m in ov.throughput)
    running: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for r in ov.running:
        running[r.worker_id].append(
            {"id": r.id, "command": r.command, "started_at": serialize.iso(r.started_at)})
    hosts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for w in ov.workers:
        hosts[w.host].append({**serialize.worker_json(w), "running": running.get(w.id, [])})
    return {
        "now": datetime.now(UTC).isoformat(),
        "counts": ov.counts,
        "total": ov.total,
        "queue_depth": ov.queue_depth,
        "oldest_waiting_age": ov.oldest_waiting_age,
        "window_minutes": ov.window_minutes,
        "throughput": [{"minute": serialize.iso(m.minute), "completed": m.completed,
                        "failed": m.failed, "dead": m.dead} for m in ov.throughput],
        "window_finished": finished,
        "window_failures": failures,
        "failure_rate": failures / finished if finished else None,
        "avg_duration": ov.avg_duration,
        "p95_duration": ov.p95_duration,
        "workers": len(ov.workers),
        "hosts": [{"host": h, "workers": ws} for h, ws in sorted(hosts.items())],
        "claiming_paused": ov.claiming_paused,
    }
