# The per-user client file that tells `queuectl` in any terminal which queue to use: named
# contexts in $XDG_CONFIG_HOME/queuectl/config.toml (default ~/.config/queuectl/...), one per
# checkout, and which one is current (queuectl/clientfile.py documents the format). start.sh
# adds or updates this checkout's context and makes it current; stop.sh --purge removes only
# this checkout's. The file is read and written by queuectl/clientfile.py (standard library
# only, under a lock, atomically), so two start.sh runs at once keep both contexts.
# Also: the launcher that puts this checkout's queuectl on PATH (./start.sh --install).
# Source it after common.sh; it defines functions only.
# shellcheck shell=bash

client_file() { printf '%s\n' "${XDG_CONFIG_HOME:-$HOME/.config}/queuectl/config.toml"; }

# Run queuectl/clientfile.py of this checkout with $@, on the virtualenv's Python or the first
# Python >= 3.11 (-I: nothing from the environment or an installed queuectl gets in the way).
client_file_run() {
    local python venv
    venv=$(venv_dir)
    if [[ -x $venv/bin/python ]]; then python=$venv/bin/python; else python=$(find_python) ||
        { say "warning: no Python 3.11 or newer; the client file $(client_file) is unchanged"
          return 1; }
    fi
    "$python" -I -c 'import sys; sys.path.insert(0, sys.argv.pop(1))
from queuectl import clientfile; sys.exit(clientfile.main(sys.argv[1:]))' \
        "$QUEUECTL_ROOT" "$@"
}

# The name this checkout's context gets: the compose project for the stack ($1 = docker),
# else the checkout's directory name (clientfile.py appends a hash when another checkout
# already holds that name).
client_file_base() {
    local project=${COMPOSE_PROJECT_NAME:-}
    if [[ $1 == docker && -z $project && -f $QUEUECTL_ROOT/.env ]]; then
        project=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' "$QUEUECTL_ROOT/.env" | tail -n 1)
    fi
    printf '%s\n' "${project:-$(basename "$QUEUECTL_ROOT")}"
}

# Record URL ($1) and data directory ($2, may be empty) as this checkout's context ($3 =
# docker or local) and make it current; the other contexts are kept. Sets CLIENT_FILE_CONTEXT
# to the context's name.
client_file_record() {
    local name
    name=$(client_file_run record "$(client_file_base "$3")" "$1" "$QUEUECTL_ROOT" ${2:+"$2"}) ||
        return 1
    CLIENT_FILE_CONTEXT=$name
    say "recorded this queue as context '$name' (current) in $(client_file), so queuectl in" \
        "any terminal uses it; others there: queuectl context list"
}

# Remove the contexts this checkout wrote; the file (and the other checkouts' contexts) stay.
client_file_forget() {
    local names
    [[ -f $(client_file) ]] || return 0
    names=$(client_file_run forget "$QUEUECTL_ROOT") || return 1
    [[ -n $names ]] || return 0
    say "removed context '${names//$'\n'/"', '"}' from $(client_file); queuectl now needs" \
        "another one: queuectl context list, queuectl context use NAME"
}

# The launcher ./start.sh --install writes: $XDG_BIN_HOME or ~/.local/bin.
launcher_path() { printf '%s\n' "${XDG_BIN_HOME:-$HOME/.local/bin}/queuectl"; }
_LAUNCHER_MARK='# queuectl launcher written by ./start.sh --install'

# Put a small `queuectl` on PATH that runs this checkout's virtualenv's queuectl; replaces
# only a launcher an earlier --install wrote, never another queuectl.
launcher_install() {
    local path tmp dir
    path=$(launcher_path)
    dir=$(dirname "$path")
    if [[ -e $path ]] && ! grep -qxF -- "$_LAUNCHER_MARK" "$path"; then
        die "$path exists and is not a launcher from ./start.sh --install; remove it first"
    fi
    mkdir -p "$dir" || die "cannot create $dir"
    tmp=$(mktemp "$path.XXXXXX") || die "cannot write in $dir"
    printf '#!/bin/sh\n%s\n# from %s; the queue it uses: `queuectl context list`\nexec %q "$@"\n' \
        "$_LAUNCHER_MARK" "$QUEUECTL_ROOT" "$(venv_dir)/bin/queuectl" >"$tmp"
    chmod 755 "$tmp" && mv "$tmp" "$path"
    say "installed $path (runs $(venv_dir)/bin/queuectl)"
    case ":$PATH:" in
        *":$dir:"*) ;;
        *) say "$dir is not on PATH: add it (echo 'export PATH=\"$dir:\$PATH\"' >> ~/.bashrc)" ;;
    esac
}
