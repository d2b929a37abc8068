# Helpers shared by start.sh, stop.sh and verify.sh: messages, Docker detection, the virtualenv.
# Source it; it defines functions and QUEUECTL_ROOT, and changes nothing else.
# shellcheck shell=bash

QUEUECTL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s: %s\n' "${QUEUECTL_SCRIPT:-queuectl}" "$*" >&2; }
die() { printf '%s: error: %s\n' "${QUEUECTL_SCRIPT:-queuectl}" "$*" >&2; exit 1; }

# True when a Docker engine answers (not merely when the CLI is installed).
docker_engine_available() {
    command -v docker >/dev/null 2>&1 && timeout 15 docker info >/dev/null 2>&1
}

# True when the Docker Compose v2 plugin runs (`docker compose`).
compose_available() { docker compose version >/dev/null 2>&1; }

# The first Python >= 3.11 on PATH, or nothing.
find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# The virtualenv in use: QUEUECTL_VENV (the Docker image sets it), else .venv in the repo.
venv_dir() { printf '%s\n' "${QUEUECTL_VENV:-$QUEUECTL_ROOT/.venv}"; }

# Create the virtualenv if needed and install queuectl into it (editable: migrations are found
# relative to the source tree) with the pinned dependencies. $1 = "runtime" or "test".
# A stamp of the inputs skips pip when nothing changed since the last install.
ensure_venv() {
    local want=$1 venv python stamp lock extra inputs
    venv=$(venv_dir)
    if [[ $want == test ]]; then
        lock=requirements-dev.lock extra='[test,docs]'
        # Inside queuectl's own image the host's run builds the docs (its pip may not reach
        # the docs stack).
        [[ ${QUEUECTL_IN_IMAGE:-0} == 1 ]] && extra='[test]'
    else
        lock=requirements.lock extra=''
    fi
    inputs=$(cat "$QUEUECTL_ROOT/pyproject.toml" "$QUEUECTL_ROOT/requirements.lock" \
        "$QUEUECTL_ROOT/requirements-dev.lock" | cksum | cut -d' ' -f1)
    stamp="$venv/.queuectl-installed"
    if [[ -x $venv/bin/python && -f $stamp ]] && grep -qx "$inputs test" "$stamp"; then
        return 0  # the test install is a superset of the runtime one
    fi
    if [[ -x $venv/bin/python && -f $stamp && $want == runtime ]] &&
        grep -qx "$inputs runtime" "$stamp"; then
        return 0
    fi
    if [[ ! -x $venv/bin/python ]]; then
        python=$(find_python) || die "Python 3.11 or newer is required; install it" \
            "(Debian/Ubuntu: sudo apt-get install python3 python3-venv), or use a Docker" \
            "engine with the Compose plugin (https://docs.docker.com/engine/install/)"
        say "creating a virtualenv in $venv"
        "$python" -m venv "$venv" >&2 || die "could not create a virtualenv in $venv;" \
            "install venv support (Debian/Ubuntu: sudo apt-get install python3-venv)"
    fi
    say "installing queuectl$extra into $venv (pinned by $lock)"
    (cd "$QUEUECTL_ROOT" && "$venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check -e ".$extra" -c "$lock" >&2) ||
        die "pip install failed (see above)"
    printf '%s %s\n' "$inputs" "$want" >"$stamp"
}
