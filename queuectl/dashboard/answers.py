"""How the dashboard API answers when something is wrong, and how the OpenAPI schema says so.

Every error is JSON `{"error": "<one line>"}` with one of the status codes below, and each
route documents the codes it can return; FastAPI's own 422 answers (and their schema) are
replaced by 400 so that there is one error shape.

    400  a parameter is invalid (unknown state, bad cursor, limit out of range, NUL in text)
    401  a token is required and was not given (from `security.Guard`)
    403  an action without the action header, or from another origin
    404  no job with that id or id prefix, no cron schedule with that name
    409  the job is not in a state that allows the action
    421  a Host header that is not a loopback name on a local-only dashboard
    500  a bug: reported as JSON, logged by the server
    503  the database cannot answer (down, too slow, schema missing)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from queuectl import errors

__all__ = ["COMMON", "ErrorBody", "install", "responses"]

_STATUS = (
    (errors.DatabaseUnavailable, 503),
    (errors.SchemaError, 503),
    (errors.InvalidInput, 400),
    (errors.DatabaseError, 503),
    (errors.JobNotFound, 404),
    (errors.CronNotFound, 404),
    (errors.QueueNotFound, 404),
    (errors.InvalidState, 409),
    (errors.UsageError, 400),
    (errors.QueuectlError, 500),
)

_MEANING = {
    400: "A parameter is invalid",
    401: "A token is required",
    403: "Action refused: missing action header or another origin",
    404: "No job with that id or id prefix, no cron schedule or no queue with that name",
    409: "The job's state does not allow the action",
    421: "Unexpected Host header",
    500: "Internal error",
    503: "The database cannot answer",
}

COMMON = (401, 421, 500, 503)  # any route: the guard, a bug, the database


class ErrorBody(BaseModel):
    """Every error answer: one line saying what is wrong."""

    error: str


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can answer with `codes` (besides COMMON)."""
    return {code: {"model": ErrorBody, "description": _MEANING[code]}
            for code in sorted({*COMMON, *codes})}


def install(app: FastAPI) -> None:
    """Register the error handlers and the 422-free schema on `app`."""
    app.add_exception_handler(errors.QueuectlError, _queuectl_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _queuectl_error(request: Request, exc: Exception) -> JSONResponse:
    outage = getattr(request.app.state, "outage", None)
    if outage is not None and isinstance(exc, errors.DatabaseUnavailable):
        outage.failed(exc)  # the next requests answer 503 at once while it backs off
    return _error(next(status for kind, status in _STATUS if isinstance(exc, kind)), str(exc))


def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    problems = exc.errors() if isinstance(exc, RequestValidationError) else []
    if not problems:
        return _error(400, "invalid request")
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
    return _error(400, f"invalid {where}: {first.get('msg', 'not acceptable')}")


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    """Routing answers (no such path, e.g. an id with a newline; wrong method), JSON too."""
    assert isinstance(exc, StarletteHTTPException)
    message = "no such job or page" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse({"error": message}, status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


def _bug(_request: Request, exc: Exception) -> JSONResponse:
    return _error(500, f"internal error ({type(exc).__name__}); see the dashboard's log")
