"""The pieces of the queuectl benchmark (`bench/run.py` is the entry point).

- `scratch`: the throw-away database each run creates, resets, loads and drops.
- `procs`: worker processes started through the real CLI, stopped with SIGTERM.
- `ceiling`: the raw spawn rate of `sh -c true` from plain Python (no queue).
- `e2e`: bulk-enqueued jobs drained by workers, per concurrency and layout.
- `latency`: enqueue→start delay seen by idle workers.
- `enqueue`: bulk enqueue rate through the library and through the CLI.
- `claim`: claim latency with many waiting (and finished) jobs.
- `report`: statistics, tables, targets and machine facts.
"""
