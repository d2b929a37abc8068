"""`queue list`, `queue set`, `queue pause`, `queue resume` and `queue remove`: named queues
and their fleet-wide limits (enforced in the claim, see `queuectl.store.queues`)."""

from __future__ import annotations

from typing import Any

import typer

from queuectl import serialize, store
from queuectl.cli import output
from queuectl.core import queuespec

__all__ = ["app"]

app = typer.Typer(help="Named queues: counts, concurrency and rate limits, pause.",
                  no_args_is_help=True, rich_markup_mode=None)


def _line(q: Any) -> str:
    limit = "none" if q.concurrency is None else str(q.concurrency)
    rate = "none" if q.rate is None else str(q.rate)
    paused = ", paused" if q.paused else ""
    return f"queue {q.name}: concurrency {limit}, rate {rate}{paused}"


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Every queue with jobs or settings: counts, limits.

    Example: queuectl queue list --json
    """
    queues = store.list_queues(ctx.obj.engine())
    paused_since = store.claiming_paused_since(ctx.obj.engine())
    if paused_since is not None:  # every queue reads as claiming while none is
        typer.echo("note: " + output.claiming_paused_line(*paused_since), err=True)
    if as_json:
        output.emit_json([serialize.queue_json(q) for q in queues])
        return
    if not queues:
        typer.echo("no queues", err=True)
        return
    rows = [[q.name, q.pending, q.running, q.failed, q.dead,
             "-" if q.concurrency is None else q.concurrency,
             "-" if q.rate is None else str(q.rate), "yes" if q.paused else "no"]
            for q in queues]
    output.table(rows, ["QUEUE", "PENDING", "RUNNING", "FAILED", "DEAD", "CONCURRENCY",
                        "RATE", "PAUSED"])


@app.command("set")
def set_(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    concurrency: str = typer.Option(None, "--concurrency", metavar="N|none",
                                    help="At most N jobs of this queue running at once, "
                                         "fleet-wide."),
    rate: str = typer.Option(None, "--rate", metavar="N/PERIOD|none",
                             help="At most N job starts per PERIOD (s, m or h), fleet-wide."),
) -> None:
    """Set or clear a queue's fleet-wide concurrency limit and rate.

    Changes apply to the next claim of every worker, without a restart.

    Example: queuectl queue set emails --concurrency 2 --rate 100/m
    """
    queuespec.check_name(name)
    changes: dict[str, Any] = {}
    if concurrency is not None:
        changes["concurrency"] = queuespec.parse_concurrency(concurrency)
    if rate is not None:
        changes["rate"] = queuespec.parse_rate(rate)
    if not changes:
        raise typer.BadParameter("give --concurrency and/or --rate")
    typer.echo(_line(store.set_queue_limits(ctx.obj.engine(), name=name, **changes)))


@app.command()
def pause(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Stop claiming from a queue across the fleet; running jobs go on.

    The queue must exist: have jobs, or settings from `queue set` (else exit 1).

    Example: queuectl queue pause emails
    """
    queuespec.check_name(name)
    store.pause_queue(ctx.obj.engine(), name=name)
    typer.echo(f"queue {name} paused: no new job of it starts until `queue resume {name}`")


@app.command()
def resume(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Claim from a paused queue again.

    The queue must exist: have jobs, or settings from `queue set` (else exit 1).

    Example: queuectl queue resume emails
    """
    queuespec.check_name(name)
    store.resume_queue(ctx.obj.engine(), name=name)
    typer.echo(f"queue {name} resumed")


@app.command()
def remove(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Delete a queue's settings: its limits, rate and pause.

    Refused (exit 1) while the queue has unfinished jobs. Its finished jobs keep their queue
    name until they are pruned.

    Example: queuectl queue remove emails
    """
    queuespec.check_name(name)
    store.remove_queue(ctx.obj.engine(), name=name)
    typer.echo(f"queue {name} removed: its settings are gone")
