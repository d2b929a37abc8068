"""Pure rules: no I/O and no SQLAlchemy or psycopg import, so that the CLI can parse and check
a job before it touches the database, and unit tests need nothing but Python.

- `jobspec`: a job's fields from JSON or flags, checked (one error naming the field);
- `queuespec`: queue names, limits and rates;
- `schedule`: cron expressions, time zones, ticks;
- `deps`: `after` dependencies: the state a new job starts in, cycles;
- `backoff`: retry delays and the retry / dead decision;
- `records`: job states and the plain dataclasses the store returns;
- `signals`: the signals a user may send a running job (not the job-control ones);
- `configkeys`: every config key with its default, range and parser.
"""
