# shellcheck shell=bash
# scripts/lib/postgres.sh: a PostgreSQL server for the tests and the demo.
#
# ensure_postgres exports DATABASE_URL, the admin URL of a server where tests may create
# databases. It takes the first of:
#   1. DATABASE_URL, when already set (it must answer).
#   2. A server answering on 127.0.0.1:$PG_PROBE_PORT (default 5432) that lets the user
#      postgres in without a password (trust auth).
#   3. The project's private cluster in $PG_DATA_DIR (default .data/postgres, git-ignored),
#      from the installed server binaries (/usr/lib/postgresql/*/bin): initdb on first use,
#      then pg_ctl start on the first free port from $PG_PRIVATE_PORT (default 55432).
#      It listens on 127.0.0.1 only, with trust auth, and is reused when already
#      initialised or running. It never runs as root: when the script is root, the folder
#      belongs to the system user postgres (created if missing) and initdb/pg_ctl run
#      through 'runuser -u postgres'.
#   4. No server binaries: install Debian's postgresql (group [database] of
#      packaging/debian-packages.txt), then 3.
# Otherwise it fails with a clear message: tests never skip for want of Postgres.
#
# Knobs (mainly to test the fallbacks):
#   PG_PROBE_PORT    port probed in step 2 (point it at a closed port to skip step 2)
#   PG_DATA_DIR      data folder of the private cluster
#   PG_PRIVATE_PORT  first port tried for the private cluster
#   PG_BIN_GLOB      where server binaries are looked for (default /usr/lib/postgresql/*/bin)
# stop_private_postgres stops the private cluster (scripts/postgres stop).

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The URL with its password, if any, hidden: for messages.
pg_redact_url() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

# Path of a PostgreSQL client program: from PATH, else from the newest /usr/lib/postgresql/*/bin.
pg_tool() {
    local dir
    local -a dirs=()
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
        return 0
    fi
    mapfile -t dirs < <(compgen -G "/usr/lib/postgresql/*/bin" | sort -rV)
    for dir in "${dirs[@]}"; do
        if [[ -x $dir/$1 ]]; then
            printf '%s\n' "$dir/$1"
            return 0
        fi
    done
    return 1
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
pg_port_open() { timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Status 0 when a PostgreSQL server lets us in at URL and runs a query (with psql); with only
# pg_isready installed, 0 when it accepts connections. Status 1 when not; 127 when no client
# tool is installed to tell.
pg_answers() {
    local psql isready
    if psql=$(pg_tool psql); then
        PGCONNECT_TIMEOUT=5 "$psql" -X -w -q -A -t -d "$1" -c 'select 1' >/dev/null 2>&1 || return 1
    elif isready=$(pg_tool pg_isready); then
        "$isready" -q -t 5 -d "$1" || return 1
    else
        return 127
    fi
}

# ---------------------------------------------------------------------------------------------
# The private cluster.
# ---------------------------------------------------------------------------------------------
# Run a command as the owner of the private cluster: the system user postgres when we are
# root (PostgreSQL refuses to run as root), else ourselves.
pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# As root: make sure the system user postgres exists (Debian's package creates it).
pg_ensure_system_user() {
    [[ $EUID -eq 0 ]] || return 0
    getent passwd postgres >/dev/null && return 0
    log "creating the system user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --create-home \
        --shell /bin/bash --comment "PostgreSQL administrator" postgres
}

# Set PG_DATA, the data folder of the private cluster, and create it (empty) if missing.
# As root, the folder belongs to the user postgres, who must be able to reach it; when it
# cannot (e.g. a clone under /root, mode 700), fall back to a folder in postgres's home.
pg_select_data_dir() {
    local hash
    PG_DATA="${PG_DATA_DIR:-$GATEPASS_ROOT/.data/postgres}"
    mkdir -p "$PG_DATA"
    [[ $EUID -eq 0 ]] || return 0
    pg_ensure_system_user
    chown postgres:postgres "$PG_DATA"
    if ! runuser -u postgres -- test -w "$PG_DATA"; then
        hash=$(printf '%s' "$GATEPASS_ROOT" | sha256sum | cut -c1-12)
        warn "the user postgres cannot reach $PG_DATA (a parent folder is closed to it); using /var/lib/postgresql/gatepass-$hash instead"
        PG_DATA=/var/lib/postgresql/gatepass-$hash
        mkdir -p "$PG_DATA"
        chown postgres:postgres "$PG_DATA"
    fi
}

# Major version of the server binaries in a folder (e.g. 15).
pg_bindir_version() {
    local version
    version=$("$1/postgres" --version | awk '{print $3}') # postgres (PostgreSQL) 15.20 (Debian ...)
    printf '%s\n' "${version%%.*}"
}

# Print the folder of the server binaries to use for the cluster in folder $1: the version
# it was made with when it exists, else the newest installed. Fails when there is none.
pg_server_bindir() {
    local data=$1 dir made_by=""
    local -a dirs=()
    [[ -f $data/PG_VERSION ]] && made_by=$(<"$data/PG_VERSION")
    mapfile -t dirs < <(compgen -G "${PG_BIN_GLOB:-/usr/lib/postgresql/*/bin}" | sort -rV)
    for dir in "${dirs[@]}"; do
        [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]] || continue
        if [[ -z $made_by || $(pg_bindir_version "$dir") == "$made_by" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

# The first free port from $PG_PRIVATE_PORT on.
pg_free_port() {
    local first=${PG_PRIVATE_PORT:-55432} port
    for ((port = first; port < first + 50; port++)); do
        if ! pg_port_open "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "no free port for the private PostgreSQL cluster in $first..$((first + 49))"
}

# Initialise (first time) and start (when stopped) the private cluster in $PG_DATA with the
# server binaries in folder $1; export DATABASE_URL.
start_private_postgres() {
    local bindir=$1 port
    if [[ ! -f $PG_DATA/PG_VERSION ]]; then
        log "initialising the private PostgreSQL cluster in $PG_DATA ($bindir)"
        pg_as_owner "$bindir/initdb" --pgdata="$PG_DATA" --username=postgres --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 >"$PG_DATA.initdb.log" 2>&1 ||
            die "initdb failed (see $PG_DATA.initdb.log); if $PG_DATA holds leftovers, delete it (test data only) and retry"
        # Localhost only, over TCP only (no socket folder to own); tuned for throwaway test
        # data: no fsync, so never measure durability or benchmark against this cluster.
        cat >>"$PG_DATA/postgresql.conf" <<'CONF'

# --- gatepass private test cluster (scripts/lib/postgres.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
    fi

    if pg_as_owner "$bindir/pg_ctl" status --pgdata="$PG_DATA" >/dev/null 2>&1; then
        port=$(sed -n 4p "$PG_DATA/postmaster.pid") # line 4 of postmaster.pid is the port
        log "reusing the running private PostgreSQL cluster in $PG_DATA (port $port)"
    else
        port=$(pg_free_port)
        log "starting the private PostgreSQL cluster in $PG_DATA on 127.0.0.1:$port"
        pg_as_owner "$bindir/pg_ctl" start --pgdata="$PG_DATA" --log="$PG_DATA/server.log" \
            --wait --timeout=60 --options="-p $port" >/dev/null ||
            die "the private PostgreSQL cluster did not start; see $PG_DATA/server.log"
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    pg_answers "$DATABASE_URL" ||
        die "the private PostgreSQL cluster runs but does not answer at $DATABASE_URL; see $PG_DATA/server.log"
}

# Stop the private cluster, when it runs (scripts/postgres stop).
stop_private_postgres() {
    local bindir
    pg_select_data_dir
    if [[ ! -f $PG_DATA/postmaster.pid ]]; then
        log "the private PostgreSQL cluster in $PG_DATA is not running"
        return 0
    fi
    bindir=$(pg_server_bindir "$PG_DATA") || die "no PostgreSQL server binaries to stop $PG_DATA with"
    log "stopping the private PostgreSQL cluster in $PG_DATA"
    pg_as_owner "$bindir/pg_ctl" stop --pgdata="$PG_DATA" --mode=fast --wait >/dev/null
}

# ---------------------------------------------------------------------------------------------
# The entry point.
# ---------------------------------------------------------------------------------------------
ensure_postgres() {
    local probe_port="${PG_PROBE_PORT:-5432}" probe_url bindir made_by rc=0

    # 1. A URL given by the caller.
    if [[ -n ${DATABASE_URL:-} ]]; then
        pg_answers "$DATABASE_URL" || rc=$?
        case $rc in
        0) log "PostgreSQL: using DATABASE_URL=$(pg_redact_url "$DATABASE_URL")" ;;
        127) log "PostgreSQL: using DATABASE_URL=$(pg_redact_url "$DATABASE_URL") (no psql here to check it)" ;;
        *) die "DATABASE_URL is set, but no PostgreSQL server lets us in at $(pg_redact_url "$DATABASE_URL"): fix it, or unset it to let the scripts find or start a server" ;;
        esac
        export DATABASE_URL
        return 0
    fi

    # 2. A server on the standard port that trusts the user postgres.
    probe_url="postgres://postgres@127.0.0.1:$probe_port/postgres"
    if pg_port_open "$probe_port"; then
        if pg_answers "$probe_url"; then
            export DATABASE_URL="$probe_url"
            log "PostgreSQL: using the server on 127.0.0.1:$probe_port (DATABASE_URL=$DATABASE_URL)"
            return 0
        fi
        log "PostgreSQL: 127.0.0.1:$probe_port is open but does not let user postgres in without a password (or psql is missing): using the project's private cluster"
    else
        log "PostgreSQL: no server on 127.0.0.1:$probe_port: using the project's private cluster"
    fi

    # 3. The private cluster, from installed binaries; 4. else install them first.
    pg_select_data_dir
    if ! bindir=$(pg_server_bindir "$PG_DATA"); then
        log "PostgreSQL: no suitable server binaries in ${PG_BIN_GLOB:-/usr/lib/postgresql/*/bin}: installing Debian's postgresql"
        ensure_debian_packages database
        if ! bindir=$(pg_server_bindir "$PG_DATA"); then
            if [[ -f $PG_DATA/PG_VERSION ]]; then
                made_by=$(<"$PG_DATA/PG_VERSION")
                die "the private cluster in $PG_DATA was made by PostgreSQL $made_by, whose server binaries are not installed: install postgresql-$made_by, or delete $PG_DATA (test data only)"
            fi
            die "no PostgreSQL server binaries in ${PG_BIN_GLOB:-/usr/lib/postgresql/*/bin}, even after installing Debian's postgresql: set DATABASE_URL to a server where the tests may create databases"
        fi
    fi
    start_private_postgres "$bindir"
    log "PostgreSQL: using the private cluster (DATABASE_URL=$DATABASE_URL)"
}
