#!/usr/bin/env bash
# Stop what ./start.sh started, keeping the data: ./stop.sh [--local|--docker] [--purge]
#
# Stops the compose stack (when a Docker engine answers) and this checkout's private PostgreSQL
# cluster with any daemon workers (when there is one); --local or --docker stops only that one.
# --purge also deletes the data: the compose volume and the private cluster's data directory,
# after saying which, and removes this checkout's context from the client file (only that one).
set -euo pipefail
QUEUECTL_SCRIPT=stop.sh
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/common.sh"
# shellcheck source=scripts/pg-local.sh
source "$QUEUECTL_ROOT/scripts/pg-local.sh"
# shellcheck source=scripts/client-file.sh
source "$QUEUECTL_ROOT/scripts/client-file.sh"

purge=0 mode=both
for arg in "$@"; do
    case $arg in
        --purge) purge=1 ;;
        --local) mode=local ;;
        --docker) mode=docker ;;
        -h | --help) sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$arg' (usage: ./stop.sh [--local|--docker] [--purge])" ;;
    esac
done
cd "$QUEUECTL_ROOT"

stop_docker() {
    compose_available || return 0
    [[ -n $(docker compose ps --all --quiet 2>/dev/null) ]] ||
        { ((purge)) || return 0; }
    if ((purge)); then
        say "stopping the stack and deleting its volume (all queued jobs and settings)"
        docker compose down --volumes --remove-orphans
    else
        say "stopping the stack (data kept in the volume; ./stop.sh --purge deletes it)"
        docker compose down --remove-orphans
    fi
}

stop_local() {
    local venv
    venv=$(venv_dir)
    if pg_local_load && [[ -x $venv/bin/queuectl ]]; then
        # Daemon workers of this checkout finish their running jobs before the server stops.
        # This checkout's server, not whichever context is current in the client file.
        { QUEUECTL_HOME=${QUEUECTL_HOME:-$PG_LOCAL_STATE/home} \
            "$venv/bin/queuectl" --database-url "$(pg_local_url queuectl)" \
            worker stop --timeout 60 2>/dev/null || true; } >&2
    fi
    if ((purge)); then
        pg_local_purge
    else
        pg_local_stop
        if pg_local_load; then
            say "data kept in $PG_LOCAL_DATA (./stop.sh --purge deletes it)"
        else
            say "no local cluster for this checkout"
        fi
    fi
}

if [[ $mode != local ]] && docker_engine_available; then
    stop_docker
fi
if [[ $mode != docker ]]; then
    stop_local
fi
if ((purge)); then client_file_forget; fi
