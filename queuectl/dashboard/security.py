"""Who may talk to the dashboard, and how actions are protected.

- Token: when the dashboard has one, every request must carry it, as `Authorization: Bearer
  <token>` (scripts, Prometheus), as the `queuectl_token` cookie (the browser), or once as
  `?token=<token>` on a page address, which sets that cookie (HttpOnly, SameSite=Strict) and
  redirects to the same address without the token. Tokens are compared in constant time.
- Host: a dashboard listening on a loopback address (the only kind allowed without a token)
  answers only requests whose Host header names a loopback address, token or not, so a page
  on another site cannot reach it through DNS rebinding.
- Actions: they are POST only and need the `X-Queuectl-Action: 1` header, which a cross-site
  form cannot send and a cross-site script cannot send without a CORS preflight (which the
  dashboard never allows); a present Origin header must also match the Host.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

__all__ = ["ACTION_HEADER", "COOKIE", "Guard", "is_loopback", "token_problem"]

COOKIE = "queuectl_token"
ACTION_HEADER = "x-queuectl-action"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# No inline scripts or styles and nothing from elsewhere: an injected tag could not run even
# if escaping failed somewhere.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The token may be in the address once; never send it on to anyone.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (with or without brackets)."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    return urlsplit("//" + host_header).hostname or ""


@dataclass(frozen=True)
class Guard:
    """The dashboard's access policy: `token` None means no authentication; `local_only`
    restricts the Host header to loopback names."""

    token: str | None
    local_only: bool

    def token_ok(self, candidate: str | None) -> bool:
        """Constant-time comparison with the configured token."""
        if self.token is None or not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def authenticate(self, request: Request) -> bool:
        """True when no token is configured or the request carries the right one."""
        if self.token is None:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_ok(value.strip()):
            return True
        return self.token_ok(request.cookies.get(COOKIE))

    def cross_site_problem(self, request: Request) -> str | None:
        """Why an action request must be refused as possibly cross-site, or None."""
        if request.headers.get(ACTION_HEADER) != "1":
            return f"actions need the '{ACTION_HEADER.title()}: 1' header"
        origin = request.headers.get("origin")
        # Scheme and host must both match ours; an opaque origin ("null") matches nothing.
        ours = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if origin is not None and origin.lower().rstrip("/") != ours.lower():
            return "cross-origin request refused"
        return None

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Starlette HTTP middleware applying the whole policy, then the security headers."""
        response = self._check(request) or await call_next(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _check(self, request: Request) -> Response | None:
        if self.local_only and not is_loopback(_hostname(request.headers.get("host", ""))):
            return JSONResponse({"error": "unexpected Host header"}, status_code=421)
        query_token = request.query_params.get("token")
        if query_token is not None and request.method == "GET":
            return self._login(request, query_token)
        if not self.authenticate(request):
            return _unauthorized(request)
        if request.method in _UNSAFE:
            problem = self.cross_site_problem(request)
            if problem:
                return JSONResponse({"error": problem}, status_code=403)
        return None

    def _login(self, request: Request, candidate: str) -> Response:
        if not self.token_ok(candidate):
            return _unauthorized(request)
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = _same_site_path(request.url.path) + ("?" + urlencode(rest) if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, candidate, httponly=True, samesite="strict",
            secure=request.url.scheme == "https", path="/",
        )
        return response


def _same_site_path(path: str) -> str:
    """`path` as a redirect that stays on this site: `//evil.com/` (or `/\\evil.com`) would
    be read by browsers as another host, so leading slashes and backslashes collapse to one."""
    return "/" + path.lstrip("/\\")


def token_problem(token: str) -> str | None:
    """Why `token` cannot work in every place a token travels (an HTTP header, a cookie, an
    address), or None: only visible ASCII characters do."""
    if not token or not all("!" <= ch <= "~" for ch in token):
        return ("the token must be visible ASCII characters only (no spaces, no accents): "
                "it is sent in an HTTP header and a cookie")
    return None


def _unauthorized(request: Request) -> Response:
    message = ("a token is required: send 'Authorization: Bearer <token>', or open the "
               "dashboard once as /?token=<token>")
    if request.url.path.startswith(("/api/", "/metrics")):
        return JSONResponse({"error": message}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    return PlainTextResponse(message + "\n", status_code=401,
                             headers={"WWW-Authenticate": "Bearer"})
