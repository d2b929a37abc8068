"""Routes matched on the path as the client sent it, so that `%2F` in a job id stays in the id.

Starlette routes on the decoded path, where `/api/jobs/foo%2Foutput` (the job `foo/output`)
and `/api/jobs/foo/output` (the live output of the job `foo`) are the same string. A
`RawPathRoute` matches its template against the raw path instead: each `{param}` takes one
segment as sent (up to a literal `/`), percent-decoded afterwards as UTF-8. So a job id may
hold any character, and its route is never ambiguous.

Only dot segments cannot travel: browsers (and most clients) resolve `/api/jobs/..`, and its
`%2E%2E` spelling, before sending it. That is why enqueue refuses the ids `.` and `..` (and
queue names the same); a job stored with one before that rule is reached by a client that
sends `%2E%2E` as it is (curl, httpx, Python's urllib).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

__all__ = ["RawPathRoute"]


class RawPathRoute(APIRoute):
    """An APIRoute whose path parameters are raw segments of the request target, decoded."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match on the raw path when the server gives it (uvicorn does), else as Starlette."""
        raw = _raw_route_path(scope)
        if raw is None:
            return super().matches(scope)
        match, child = super().matches({**scope, "path": raw, "root_path": ""})
        if match is not Match.NONE:
            child["path_params"] = {
                name: _decoded(value) if name in self.param_convertors else value
                for name, value in child["path_params"].items()
            }
        return match, child


def _raw_route_path(scope: Scope) -> str | None:
    """The path being routed, still percent-encoded; None when the server sent no raw path
    or it is not the path being routed (Starlette retrying without a trailing slash)."""
    raw = scope.get("raw_path")
    if scope["type"] != "http" or not isinstance(raw, bytes):
        return None
    path = raw.split(b"?", 1)[0].decode("latin-1")  # some servers keep the query in it
    if unquote(path) != _routed_path(scope):
        return None
    return path


def _routed_path(scope: Scope) -> str:
    """The decoded path Starlette routes on: `path` without the `root_path` it starts with."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root):]
    return path


def _decoded(value: Any) -> Any:
    """One raw path segment, percent-decoded (UTF-8; a broken sequence becomes U+FFFD)."""
    if not isinstance(value, str):
        return value
    return unquote_to_bytes(value.encode("latin-1")).decode("utf-8", errors="replace")
