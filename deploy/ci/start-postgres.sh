#!/usr/bin/env bash
# Start (idempotently) a dedicated PostgreSQL cluster for baikal's tests.
#
#   data dir : /var/lib/baikal-pg        (owned by OS user postgres)
#   listen   : 127.0.0.1:55432 only      (unix socket in /run/baikal-pg)
#   log      : /var/log/baikal-pg.log
#   role/db  : baikal / baikal, database baikal_test owned by baikal
#
# On success the last line on stdout is:
#   BAIKAL_TEST_POSTGRES_DSN=postgresql://baikal:baikal@127.0.0.1:55432/baikal_test
# Everything else goes to stderr.
set -euo pipefail

PGDATA=/var/lib/baikal-pg
PGPORT_=55432
PGHOST_=127.0.0.1
SOCKDIR=/run/baikal-pg
LOGFILE=/var/log/baikal-pg.log
ROLE=baikal
ROLE_PW=baikal
DB=baikal_test
DSN="postgresql://$ROLE:$ROLE_PW@$PGHOST_:$PGPORT_/$DB"
WAIT_SECS="${BAIKAL_PG_WAIT_SECS:-60}"

log() { echo "start-postgres: $*" >&2; }
die() { echo "start-postgres: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (uses runuser -u postgres)"
cd /   # postgres user may not be able to read the caller's cwd
export DEBIAN_FRONTEND=noninteractive

# Debian's server binaries, newest major version first.
find_bindir() {
    local d
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -V -r); do
        if [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then
            echo "$d"; return 0
        fi
    done
    return 1
}

BINDIR="$(find_bindir || true)"
if [ -z "$BINDIR" ]; then
    log "PostgreSQL server missing; installing Debian package postgresql"
    # Keep the package from starting its default cluster's service.
    added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    rc=0
    { apt-get update -q && apt-get install -y -q postgresql; } >&2 || rc=$?
    [ "$added_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" -eq 0 ] || die "apt-get install postgresql failed"
    BINDIR="$(find_bindir || true)"
    [ -n "$BINDIR" ] || die "postgres binaries still missing under /usr/lib/postgresql/*/bin"
fi
id postgres >/dev/null 2>&1 || die "OS user 'postgres' does not exist"

as_pg() { runuser -u postgres -- "$@"; }

# psql as the superuser over the private unix socket (peer auth as postgres).
pg_super() { as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PGPORT_" -d postgres "$@"; }

# A zombie counts as dead.
alive() {
    local st
    st="$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

ready() { "$BINDIR/pg_isready" -q -h "$PGHOST_" -p "$PGPORT_" -d postgres >/dev/null 2>&1; }

install -d -o postgres -g postgres -m 0755 "$SOCKDIR"
touch "$LOGFILE" && chown postgres:postgres "$LOGFILE"

# ---------------------------------------------------------------- initdb
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    log "initialising cluster in $PGDATA with $BINDIR/initdb"
    install -d -o postgres -g postgres -m 0700 "$PGDATA"
    as_pg "$BINDIR/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >&2 \
        || as_pg "$BINDIR/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C \
            --auth-local=peer --auth-host=scram-sha-256 >&2 \
        || die "initdb failed"
    cat >>"$PGDATA/postgresql.conf" <<EOF

# --- baikal test cluster (deploy/ci/start-postgres.sh) ---
listen_addresses = '$PGHOST_'
port = $PGPORT_
unix_socket_directories = '$SOCKDIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    cat >"$PGDATA/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       postgres             peer
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
EOF
else
    data_ver="$(cat "$PGDATA/PG_VERSION")"
    bin_ver="$(basename "$(dirname "$BINDIR")")"
    if [ "$data_ver" != "$bin_ver" ] && [ -x "/usr/lib/postgresql/$data_ver/bin/postgres" ]; then
        BINDIR="/usr/lib/postgresql/$data_ver/bin"
    elif [ "$data_ver" != "$bin_ver" ]; then
        die "$PGDATA is PostgreSQL $data_ver but only $bin_ver binaries are installed (remove $PGDATA to re-init)"
    fi
fi

# ---------------------------------------------------------------- start
if ready; then
    log "server already answering on $PGHOST_:$PGPORT_"
else
    # postmaster.pid left by a killed server: postgres and pg_ctl test the pid
    # with kill(pid, 0), which also succeeds on a zombie (PID 1 may reap
    # orphans lazily), so drop the file when that pid is dead or a zombie.
    # (Postgres' shared-memory interlock still guards against live backends.)
    if [ -f "$PGDATA/postmaster.pid" ]; then
        ppid_="$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null || true)"
        if [ -z "$ppid_" ] || ! alive "$ppid_"; then
            log "removing stale $PGDATA/postmaster.pid (pid ${ppid_:-?} not running)"
            rm -f "$PGDATA/postmaster.pid"
        fi
    fi
    lockf="$SOCKDIR/.s.PGSQL.$PGPORT_.lock"
    if [ -f "$lockf" ]; then
        lpid="$(head -n 1 "$lockf" 2>/dev/null || true)"
        if [ -z "$lpid" ] || ! alive "$lpid"; then
            rm -f "$lockf" "$SOCKDIR/.s.PGSQL.$PGPORT_"
        fi
    fi
    if as_pg "$BINDIR/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
        log "server process running but not ready yet; waiting"
    else
        log "starting server with $BINDIR/pg_ctl (log: $LOGFILE)"
        as_pg "$BINDIR/pg_ctl" -D "$PGDATA" -l "$LOGFILE" -s \
            -o "-c listen_addresses=$PGHOST_ -p $PGPORT_ -k $SOCKDIR" start -W >&2 \
            || die "pg_ctl start failed; see $LOGFILE"
    fi
    deadline=$((SECONDS + WAIT_SECS))
    until ready; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$LOGFILE" >&2 || true
            die "postgres did not become ready on $PGHOST_:$PGPORT_ within ${WAIT_SECS}s"
        fi
        if ! as_pg "$BINDIR/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
            sleep 1
            ready && break
            tail -n 30 "$LOGFILE" >&2 || true
            die "postgres exited during startup; see $LOGFILE"
        fi
        sleep 0.5
    done
    log "server is ready"
fi

# ---------------------------------------------------------------- role + db
role_exists="$(pg_super -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")"
if [ "$role_exists" != "1" ]; then
    log "creating role $ROLE"
    pg_super -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE_PW'"
else
    # Keep it usable even if someone changed it.
    pg_super -c "ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE_PW'"
fi
db_exists="$(pg_super -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")"
if [ "$db_exists" != "1" ]; then
    log "creating database $DB owned by $ROLE"
    pg_super -c "CREATE DATABASE $DB OWNER $ROLE"
fi

# ---------------------------------------------------------------- check
PGCONNECT_TIMEOUT=10 "$BINDIR/psql" -X -q -tA "$DSN" -c 'SELECT 1' >/dev/null \
    || die "cannot connect with $DSN"
log "connection as $ROLE OK"

echo "BAIKAL_TEST_POSTGRES_DSN=$DSN"
