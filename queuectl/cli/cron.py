"""`cron add|list|remove|pause|resume|run`: jobs enqueued on a schedule by the fleet's leader."""

from __future__ import annotations

import typer

from queuectl import serialize, store
from queuectl.cli import output
from queuectl.core import schedule

__all__ = ["app"]

app = typer.Typer(help="Cron schedules: a job template enqueued once per tick.",
                  no_args_is_help=True, rich_markup_mode=None)

_NAME = typer.Argument(..., metavar="NAME", help="The schedule's name.")


@app.command()
def add(
    ctx: typer.Context,
    name: str = _NAME,
    schedule_text: str = typer.Argument(
        ..., metavar="SCHEDULE",
        help="5 cron fields ('*/5 * * * *'), @hourly, @daily, @weekly, @monthly, @yearly, or "
             "'@every 30s|5m|2h' (aligned to the Unix epoch)."),
    template: str = typer.Argument(
        ..., metavar="JSON", help="The job to enqueue at each tick: enqueue's fields but id "
                                  "and run_at, e.g. '{\"command\": \"./backup.sh\"}'."),
    zone: str = typer.Option("UTC", "--tz", metavar="ZONE",
                             help="IANA time zone the cron fields are read in (default UTC)."),
    replace: bool = typer.Option(False, "--replace",
                                 help="Redefine the schedule if NAME exists (it stays paused "
                                      "if it was); its next tick is the first after now."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Create a schedule that enqueues a job at each tick.

    The first tick is the first after now. Each tick is enqueued once across the fleet, by
    the leading worker; after an outage only the most recent missed tick is enqueued.

    Example: queuectl cron add backup '30 2 * * *' '{"command": "./backup.sh"}' --tz Europe/Paris
    """
    schedule.check_name(name)
    parsed = schedule.parse(schedule_text, zone)
    compact, _ = schedule.parse_template(template)
    cron = store.add_cron(ctx.obj.engine(), name=name, schedule_text=parsed.text,
                          zone=parsed.zone, template=compact, replace=replace)
    if as_json:
        output.emit_json(serialize.cron_json(cron))
        return
    typer.echo(f"Cron {cron.name} {'replaced' if replace else 'added'}: next run "
               f"{output.fmt_time(cron.next_run)}")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Every schedule, its next and last run and last job.

    Example: queuectl cron list --json
    """
    crons = store.list_crons(ctx.obj.engine())
    if as_json:
        output.emit_json([serialize.cron_json(c) for c in crons])
        return
    if not crons:
        typer.echo("no cron schedules", err=True)
        return
    output.table(
        [[c.name, c.schedule, c.zone, _next_run(c),
          output.fmt_time(c.last_run_at), c.last_job_id or "-", c.last_job_state or "-",
          output.short(c.template, 40)] for c in crons],
        ["NAME", "SCHEDULE", "ZONE", "NEXT RUN", "LAST RUN", "LAST JOB", "STATE", "TEMPLATE"],
    )
    for c in crons:
        if c.error is not None:
            typer.echo(f"warning: cron {c.name}: {c.error}", err=True)


def _next_run(cron: store.Cron) -> str:
    if cron.error is not None:
        return "invalid"  # why: a warning line after the table
    return "paused" if cron.paused else output.fmt_time(cron.next_run)


@app.command()
def remove(ctx: typer.Context, name: str = _NAME) -> None:
    """Delete a schedule; the jobs it enqueued stay.

    Example: queuectl cron remove backup
    """
    store.remove_cron(ctx.obj.engine(), name=name)
    typer.echo(f"Cron {name} removed")


@app.command()
def pause(ctx: typer.Context, name: str = _NAME) -> None:
    """Stop a schedule's ticks until it is resumed.

    Example: queuectl cron pause backup
    """
    store.set_cron_paused(ctx.obj.engine(), name=name, paused=True)
    typer.echo(f"Cron {name} paused")


@app.command()
def resume(ctx: typer.Context, name: str = _NAME) -> None:
    """Let a paused schedule tick again (missed ticks skipped).

    Example: queuectl cron resume backup
    """
    cron = store.set_cron_paused(ctx.obj.engine(), name=name, paused=False)
    typer.echo(f"Cron {name} resumed: next run {output.fmt_time(cron.next_run)}")


@app.command()
def run(ctx: typer.Context, name: str = _NAME) -> None:
    """Enqueue a schedule's job now (also when paused) and print its id.

    Example: queuectl cron run backup
    """
    job_id = store.run_cron(ctx.obj.engine(), name=name)
    typer.echo(job_id)
