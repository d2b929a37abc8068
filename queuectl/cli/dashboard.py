"""`dashboard`: serve the web dashboard, its JSON API and Prometheus metrics."""

from __future__ import annotations

import typer

from queuectl import db, errors, store
from queuectl.cli import serving

__all__ = ["register"]

# A dashboard request waits at most this long for the database, then shows an error banner.
_STATEMENT_TIMEOUT = 10.0
_TOKEN_ENV = "QUEUECTL_DASHBOARD_TOKEN"


def dashboard(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="Port to listen on."),
    token: str | None = typer.Option(
        None, "--token", envvar=_TOKEN_ENV, show_envvar=True,
        help="Require this token on every request (needed to listen on a non-local address)."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Allow a non-local address without a token (anyone who can "
        "reach it can see jobs and retry dead ones)."),
) -> None:
    """Serve the web dashboard, its JSON API and Prometheus /metrics.

    Example: queuectl dashboard --port 3000
    """
    local = serving.check_access(host, token, no_auth, what="the dashboard",
                                 token_env=_TOKEN_ENV)
    try:
        ctx.obj.engine()  # brings the schema to head, as every command does
    except errors.DatabaseUnavailable as exc:
        typer.echo(f"warning: {exc}; the dashboard will show this until it is reachable",
                   err=True)
    # Imported here: FastAPI takes a while to load, and no other command needs it.
    from queuectl.dashboard import app as dashboard_app
    from queuectl.dashboard import security

    engine = db.create_engine(ctx.obj.target(), pooled=True, pool_size=4)
    store.limit_statement_time(engine, seconds=_STATEMENT_TIMEOUT)
    # On loopback the Host check stays with a token too: DNS rebinding is refused either way.
    guard = security.Guard(token=token, local_only=local)
    app = dashboard_app.create_app(engine, guard=guard)
    # Before the banner: a port in use is one error line, exit 1.
    sock = serving.listen(host, port, what="dashboard")
    typer.echo(_banner(host, port, token=token, local=local), err=True)
    serving.serve(app, sock, host, port)


def _banner(host: str, port: int, *, token: str | None, local: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if token:
        auth = (f"token required: open {url}?token=<token> once, or send "
                "'Authorization: Bearer <token>'")
    elif local:
        auth = "local connections only, no token"
    else:
        auth = "WARNING: --no-auth, anyone who can reach this address can use it"
    return f"queuectl dashboard on {url} ({auth}); metrics at {url}metrics; Ctrl-C stops"


def register(app: typer.Typer) -> None:
    """Add this module's command to the root app."""
    app.command()(dashboard)
