"""Watching jobs from any host, client side: follow a job's output as it runs (`logs -f`,
`enqueue --follow`) and say how a run that did not complete ended, wait for jobs to finish
(`wait`, `enqueue --wait`), and parse signal names. Reads the database every `interval`
seconds; workers flush output at least every second, so lines show up within about a second
of being printed."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from queuectl import errors, store
from queuectl.cli import output
from queuectl.core.records import Job, JobState

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["ending", "follow_output", "parse_signal", "tail_lines", "wait_for_jobs",
           "wait_workers_gone"]

POLL = 0.3
#: The states a job leaves by being claimed for a run (or by being cancelled).
_BEFORE_A_RUN = (JobState.PENDING, JobState.FAILED, JobState.HELD, JobState.WAITING)
#: How much of a job's last error `ending` quotes.
_ERROR_CHARS = 300


def parse_signal(text: str) -> int:
    """`TERM`, `SIGTERM`, `sigterm` or `15` → 15; a usage error for anything else."""
    name = text.strip().upper()
    if name.isdigit() and int(name) in {s.value for s in signal.Signals}:
        return int(name)
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise errors.UsageError(
            f"unknown signal {text!r}; use a name such as TERM, HUP, INT, USR1 or KILL, "
            "or a number") from None


def tail_lines(text: str, n: int | None) -> str:
    """The last `n` lines of `text` (all of it for None)."""
    if n is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-n:]) if n > 0 else ""


def follow_output(engine: sa.Engine, *, job_id: str, write: Callable[[str], None],
                  tail: int | None = None, interval: float = POLL) -> Job:
    """Print a job's output as it arrives until its current (or next) run ends; returns the
    job as it ended that run. A job not running yet (waiting for its `after` jobs, held, due
    later, failed and to be retried) is watched until its next run starts; a job that already
    finished prints its output and returns."""
    read = store.read_output(engine, job_id=job_id)
    job = read.job
    while job.state in _BEFORE_A_RUN:
        time.sleep(interval)
        read = store.read_output(engine, job_id=job.id)
        job = read.job
    if job.state is not JobState.PROCESSING:
        write(tail_lines(job.output or "", tail))
        return job
    run_id, printed, last = read.run_id, False, 0
    first = True
    while True:
        chunks = read.chunks
        if chunks:
            text = "".join(c for _, c in chunks)
            write(tail_lines(text, tail) if first else text)
            printed, last = True, chunks[-1][0]
        first = first and not chunks
        job = read.job
        if job.state is not JobState.PROCESSING or read.run_id != run_id:
            break
        time.sleep(interval)
        read = store.read_output(engine, job_id=job.id, after=last)
    if read.run_id == run_id:  # the rest, flushed before the result was written
        rest = store.read_output(engine, job_id=job.id, after=last)
        if rest.chunks:
            write("".join(c for _, c in rest.chunks))
            printed = True
        job = rest.job
    if not printed:
        write(tail_lines(job.output or "", tail))
    return job


def ending(job: Job) -> str | None:
    """One line (control characters escaped) saying how the followed run of a job that did
    not complete ended, e.g. `job 6db8 ended dead after run 4 of at most 4: exit code 1`;
    None for a completed job."""
    if job.state is JobState.COMPLETED:
        return None
    runs = output.fmt_runs(job.attempts, job.max_retries)
    if job.state is JobState.DEAD:
        line = f"job {job.id} ended dead after {runs}"
    elif job.state is JobState.CANCELLED:
        line = f"job {job.id} ended cancelled"
    elif job.state is JobState.FAILED:
        line = (f"job {job.id} failed after {runs}; it will be retried at "
                f"{output.fmt_time(job.run_at)}")
    else:  # put back (its worker lost), or a new run already started
        line = f"job {job.id} is {job.state.value} after {runs}"
    if job.error:
        line += ": " + output.short(job.error, _ERROR_CHARS)
    return output.escape(line)


def wait_for_jobs(engine: sa.Engine, *, ids: Sequence[str], timeout: float | None,
                  progress: Callable[[int, int], None] | None = None,
                  interval: float = POLL) -> list[Job]:
    """Block until every job has finished (completed, dead or cancelled) or `timeout`
    seconds passed; returns them in the order given, as last read (on a timeout some are
    not finished). Unknown ids raise before any waiting."""
    exact = [store.get_job(engine, job_id=i).id for i in ids]
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        jobs = store.get_jobs(engine, ids=exact)
        done = sum(j.state.finished for j in jobs)
        if progress is not None:
            progress(done, len(exact))
        if done == len(exact) or (deadline is not None and time.monotonic() >= deadline):
            return jobs
        time.sleep(interval if deadline is None else
                   max(0.0, min(interval, deadline - time.monotonic())))


def wait_workers_gone(engine: sa.Engine, *, ids: Sequence[int], timeout: float | None,
                      interval: float = POLL) -> list[int]:
    """Block until none of these workers is live any more (or `timeout` seconds passed);
    returns the ids still live."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = store.live_workers(engine, ids=ids)
        if not left or (deadline is not None and time.monotonic() >= deadline):
            return left
        time.sleep(interval)
