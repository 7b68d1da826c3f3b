# Shared by scripts/run and scripts/test: finding PostgreSQL, tools, output.
# shellcheck shell=bash
# shellcheck disable=SC2034 # PG_* variables are read by the scripts that source this file

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PRIVATE_PG_DIR="$ROOT/target/pg"
PRIVATE_PG_PORT=${TRIZONE_PG_PORT:-54329}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_rust() {
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust with rustup (https://rustup.rs), then run this again"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
    for _ in $(seq 1 50); do
        port_open "$1" && return 0
        sleep 0.2
    done
    return 1
}

# The newest installed PostgreSQL server binaries, if any.
pg_bindir() {
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir
        return
    fi
    find /usr/lib/postgresql /usr/local/pgsql /opt/homebrew/opt -maxdepth 3 -name initdb -path '*bin*' 2>/dev/null |
        sort -V | tail -n 1 | xargs -r dirname
}

# Runs a command as the unprivileged owner of the private cluster: initdb
# and postgres refuse to run as root.
as_pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || die "running as root and no 'postgres' user exists to own a private cluster"
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_private_cluster() {
    local bindir=$1
    mkdir -p "$PRIVATE_PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres "$PRIVATE_PG_DIR"
    if [ ! -f "$PRIVATE_PG_DIR/data/PG_VERSION" ]; then
        say "creating a private PostgreSQL cluster in target/pg"
        as_pg_owner "$bindir/initdb" -D "$PRIVATE_PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
    fi
    say "starting the private PostgreSQL cluster on 127.0.0.1:$PRIVATE_PG_PORT"
    as_pg_owner "$bindir/pg_ctl" -D "$PRIVATE_PG_DIR/data" -l "$PRIVATE_PG_DIR/server.log" -w \
        -o "-p $PRIVATE_PG_PORT -k $PRIVATE_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null ||
        die "the private PostgreSQL cluster did not start; see target/pg/server.log"
    # shellcheck disable=SC2064 # expand now: the path is fixed
    trap "as_pg_owner '$bindir/pg_ctl' -D '$PRIVATE_PG_DIR/data' -m fast stop >/dev/null 2>&1 || true" EXIT
    PG_SERVER_URL="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT"
}

# Sets PG_SERVER_URL (no database path) and PG_DATABASE_URL (when
# DATABASE_URL named one), finding PostgreSQL in this order:
#   1. $DATABASE_URL, as given;
#   2. a server on 127.0.0.1:5432 (starting the system cluster if it is
#      installed but stopped);
#   3. a private cluster under target/pg from the installed server binaries,
#      stopped when the script exits;
#   4. otherwise, a message saying how to install PostgreSQL.
# TRIZONE_PG=private skips 1 and 2 (to exercise the private cluster).
find_postgres() {
    PG_DATABASE_URL=""
    if [ "${TRIZONE_PG:-}" != private ]; then
        if [ -n "${DATABASE_URL:-}" ]; then
            PG_DATABASE_URL=$DATABASE_URL
            PG_SERVER_URL=${DATABASE_URL%/*}
            say "using PostgreSQL from DATABASE_URL"
            return
        fi
        if ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
            local version
            version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
            if [ -n "$version" ]; then
                say "starting the system PostgreSQL $version cluster"
                pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
                wait_for_port 5432 || true
            fi
        fi
        if port_open 5432; then
            PG_SERVER_URL="postgres://postgres@127.0.0.1:5432"
            say "using PostgreSQL on 127.0.0.1:5432"
            return
        fi
    fi
    local bindir
    bindir=$(pg_bindir)
    if [ -n "$bindir" ]; then
        start_private_cluster "$bindir"
        return
    fi
    die "PostgreSQL not found. Install it (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql) or set DATABASE_URL=postgres://user@host:5432/trizone"
}
