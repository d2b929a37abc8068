"""`metrics`: counts, throughput and run durations over a recent window, as a table or JSON;
`metrics serve`: the same over HTTP, as Prometheus text and JSON."""

from __future__ import annotations

from typing import Any

import typer

from queuectl import db, errors, serialize, store
from queuectl.cli import output, serving

__all__ = ["app", "register"]

app = typer.Typer(rich_markup_mode=None, subcommand_metavar="[COMMAND]")

_MINUTES = 7 * 24 * 60
_TOKEN_ENV = "QUEUECTL_METRICS_TOKEN"
# A scrape waits at most this long for the database, then answers 503 (as the dashboard).
_STATEMENT_TIMEOUT = 10.0


@app.callback(invoke_without_command=True)
def metrics(
    ctx: typer.Context,
    minutes: int = typer.Option(60, "--minutes", "-m", metavar="N", min=1, max=_MINUTES,
                                help="Window for runs, throughput and durations."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Counts, throughput and average/p95 run duration.

    Runs, throughput and durations cover the last N minutes (--minutes, default 60).
    `metrics serve` serves the same over HTTP.

    Example: queuectl metrics --minutes 15 --json
    """
    if ctx.invoked_subcommand is not None:
        given = [name for name in ("minutes", "as_json")
                 if getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"]
        if given:  # `metrics -m 5 serve` would otherwise ignore the -m
            raise typer.BadParameter(
                f"--minutes and --json are for the `metrics` report, not `metrics "
                f"{ctx.invoked_subcommand}` (give its own options after it)")
        return
    report = serialize.metrics_json(store.dashboard_overview(
        ctx.obj.engine(), window_minutes=minutes, running_limit=0))
    if as_json:
        output.emit_json(report)
        return
    window = f"last {minutes} min"
    rows: list[list[Any]] = [[f"jobs {state}", n] for state, n in report["counts"].items()]
    rows += [["jobs total", report["total"]]]
    rows += [[f"runs {outcome} ({window})", n] for outcome, n in report["runs"].items()]
    rows += [
        [f"throughput ({window})", f"{report['throughput_per_minute']:g} jobs/min"],
        [f"avg duration ({window})", output.fmt_duration(report["avg_duration"])],
        [f"p95 duration ({window})", output.fmt_duration(report["p95_duration"])],
        ["queue depth (due now)", report["queue_depth"]],
        ["oldest waiting", output.fmt_duration(report["oldest_waiting_age"])],
        ["live workers", report["live_workers"]],
    ]
    output.table(rows, ["METRIC", "VALUE"])


@app.command()
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(9109, "--port", min=1, max=65535, help="Port to listen on."),
    minutes: int = typer.Option(60, "--minutes", "-m", metavar="N", min=1, max=_MINUTES,
                                help="Window of the JSON's runs, throughput and durations."),
    token: str | None = typer.Option(
        None, "--token", envvar=_TOKEN_ENV, show_envvar=True,
        help="Require this token on every request (needed to listen on a non-local address)."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Allow a non-local address without a token (anyone who can "
        "reach it can read the job counts)."),
) -> None:
    """Serve the metrics over HTTP: Prometheus text and JSON.

    GET /metrics is Prometheus text, the same series as the dashboard's /metrics (JSON when
    the request sends 'Accept: application/json'); GET /metrics.json is the object
    `metrics --json` prints. While the database is away both answer 503 with a JSON error
    and Retry-After, and the server keeps running.

    Example: queuectl metrics serve --port 9109
    """
    local = serving.check_access(host, token, no_auth, what="metrics", token_env=_TOKEN_ENV)
    try:
        ctx.obj.engine()  # brings the schema to head, as every command does
    except errors.DatabaseUnavailable as exc:
        typer.echo(f"warning: {exc}; /metrics answers 503 until it is reachable", err=True)
    # Imported here: FastAPI takes a while to load, and no other command needs it.
    from queuectl.dashboard import metrics_server, security

    engine = db.create_engine(ctx.obj.target(), pooled=True, pool_size=2)
    store.limit_statement_time(engine, seconds=_STATEMENT_TIMEOUT)
    guard = security.Guard(token=token, local_only=local)
    web = metrics_server.create_app(engine, guard=guard, window_minutes=minutes)
    sock = serving.listen(host, port, what="metrics server")  # one error line, exit 1
    typer.echo(_banner(host, port, token=token, local=local), err=True)
    serving.serve(web, sock, host, port)


def _banner(host: str, port: int, *, token: str | None, local: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if token:
        auth = "token required: send 'Authorization: Bearer <token>'"
    elif local:
        auth = "local connections only, no token"
    else:
        auth = "WARNING: --no-auth, anyone who can reach this address can read it"
    return (f"queuectl metrics on {url}metrics (JSON at {url}metrics.json) ({auth}); "
            "Ctrl-C stops")


def register(root: typer.Typer) -> None:
    """Add this module's group to the root app."""
    root.add_typer(app, name="metrics")
