#!/usr/bin/env bash
# Container entrypoint: wait (bounded) for the database, apply migrations, then exec the command
# (default: an interactive shell). The database URL is resolved as queuectl resolves it.
#   QUEUECTL_DB_WAIT_TIMEOUT  seconds to wait for PostgreSQL (default 60)
set -euo pipefail

if (($# == 0)); then
    set -- bash
fi

python - "${QUEUECTL_DB_WAIT_TIMEOUT:-60}" <<'PY'
import sys
import time

import psycopg

from queuectl import settings

limit = float(sys.argv[1])
target = settings.resolve_database()
url = target.conninfo
deadline = time.monotonic() + limit
announced = False
while True:
    try:
        psycopg.connect(url, connect_timeout=3).close()
        break
    except psycopg.Error as exc:
        last = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if time.monotonic() >= deadline:
        sys.exit(f"entrypoint: error: PostgreSQL at {target.where} (from {target.source}) did "
                 f"not accept connections within {limit:g}s: {last}")
    if not announced:
        print(f"entrypoint: waiting for PostgreSQL at {target.where} ...", file=sys.stderr)
        announced = True
    time.sleep(1)
PY

queuectl migrate >&2
exec "$@"
