"""Drives a peer queue (pgqueuer or procrastinate) for bench section `peers`; runs inside the
peer's own virtualenv (bench/.peers/<peer>), never imports queuectl.

    QBENCH_PEER_DSN=postgresql://... python driver.py PEER install
    python driver.py PEER enqueue COMMAND N          N jobs running COMMAND, one call
    python driver.py PEER trickle M OUT_FILE         M jobs one at a time, 20-50 ms apart;
                                                         job i runs `echo i $(date +%s%N) >>
                                                         OUT_FILE.started`; the enqueue time of
                                                         job i (ns, before the call) goes to
                                                         OUT_FILE
    python driver.py PEER worker SLOTS               one worker process, SLOTS at once

Every job runs its command as `sh -c COMMAND` in an asyncio subprocess (both peers are
asyncio-based), the idiomatic way to run a shell command from them.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time

ENTRYPOINT = "sh"


async def _sh(command: str) -> None:
    proc = await asyncio.create_subprocess_exec("sh", "-c", command,
                                                stdin=asyncio.subprocess.DEVNULL)
    if await proc.wait() != 0:
        raise RuntimeError(f"exit {proc.returncode}")


def _trickle_commands(m: int, out: str) -> list[str]:
    return [f"echo {i} $(date +%s%N) >> {out}.started" for i in range(m)]


async def _trickle(enqueue_one, m: int, out: str) -> None:
    with open(out, "w") as f:
        for i, command in enumerate(_trickle_commands(m, out)):
            await asyncio.sleep(random.uniform(0.020, 0.050))
            f.write(f"{i} {time.time_ns()}\n")
            await enqueue_one(command)
        f.flush()


# --- pgqueuer -----------------------------------------------------------------------------

async def _pgq_connect(dsn: str):
    # asyncpg: pgqueuer's primary driver. Its PsycopgDriver shares one connection between
    # LISTEN and queries and drained about 5 jobs/s here.
    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(dsn)
    return conn, AsyncpgDriver(conn), Queries


async def pgqueuer(cmd: str, dsn: str, args: list[str]) -> None:
    conn, driver, queries_cls = await _pgq_connect(dsn)
    queries = queries_cls(driver)
    if cmd == "install":
        await queries.install()
    elif cmd == "enqueue":
        command, n = args[0], int(args[1])
        await queries.enqueue([ENTRYPOINT] * n, [command.encode()] * n, [0] * n)
    elif cmd == "trickle":
        await _trickle(lambda c: queries.enqueue(ENTRYPOINT, c.encode()), int(args[0]), args[1])
    elif cmd == "worker":
        from pgqueuer import Job, PgQueuer

        pgq = PgQueuer(driver)

        @pgq.entrypoint(ENTRYPOINT)
        async def run(job: Job) -> None:
            await _sh((job.payload or b"").decode())

        # SLOTS jobs at once in this worker: max_concurrent_tasks caps its picked jobs (and
        # must be >= 2 x batch_size). An entrypoint concurrency_limit instead held finished
        # jobs' slots until a later poll: about 2 jobs/s.
        slots = int(args[0])
        await pgq.run(batch_size=max(1, slots // 2), max_concurrent_tasks=slots)
    await conn.close()


# --- procrastinate ------------------------------------------------------------------------

async def procrastinate(cmd: str, dsn: str, args: list[str]) -> None:
    import procrastinate as pc

    app = pc.App(connector=pc.PsycopgConnector(conninfo=dsn))

    @app.task(name=ENTRYPOINT)
    async def run(command: str) -> None:
        await _sh(command)

    async with app.open_async():
        if cmd == "install":
            await app.schema_manager.apply_schema_async()
        elif cmd == "enqueue":
            command, n = args[0], int(args[1])
            await run.batch_defer_async(*({"command": command} for _ in range(n)))
        elif cmd == "trickle":
            await _trickle(lambda c: run.defer_async(command=c), int(args[0]), args[1])
        elif cmd == "worker":
            await app.run_worker_async(concurrency=int(args[0]), wait=True)


def main(argv: list[str]) -> None:
    peer, cmd, *args = argv
    dsn = os.environ["QBENCH_PEER_DSN"]  # not on the command line: it may hold a password
    asyncio.run({"pgqueuer": pgqueuer, "procrastinate": procrastinate}[peer](cmd, dsn, args))


if __name__ == "__main__":
    main(sys.argv[1:])
