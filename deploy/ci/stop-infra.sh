#!/usr/bin/env bash
# Stop the private Docker daemon and PostgreSQL cluster started by
# start-docker.sh / start-postgres.sh. Idempotent; data is kept (pass
# --purge to also delete /var/lib/baikal-docker and /var/lib/baikal-pg).
set -uo pipefail

DOCKER_HOST_URL=unix:///run/baikal-docker/docker.sock
DOCKER_PIDFILE=/run/baikal-docker/dockerd.pid
PGDATA=/var/lib/baikal-pg
WAIT_SECS=30
PURGE=0
[ "${1:-}" = "--purge" ] && PURGE=1

log() { echo "stop-infra: $*" >&2; }
cd /
# A zombie counts as dead (kill -0 succeeds on zombies; PID 1 may reap lazily).
alive() {
    local st
    st="$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# ---------------------------------------------------------------- postgres
pg_ctl_bin=""
if [ -s "$PGDATA/PG_VERSION" ]; then
    v="$(cat "$PGDATA/PG_VERSION")"
    [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ] && pg_ctl_bin="/usr/lib/postgresql/$v/bin/pg_ctl"
fi
if [ -n "$pg_ctl_bin" ] && runuser -u postgres -- "$pg_ctl_bin" -D "$PGDATA" status >/dev/null 2>&1; then
    log "stopping postgres ($PGDATA)"
    runuser -u postgres -- "$pg_ctl_bin" -D "$PGDATA" -m fast -t "$WAIT_SECS" -s stop \
        || log "WARNING: pg_ctl stop failed"
else
    log "postgres not running"
fi

# ---------------------------------------------------------------- docker
pid=""
[ -f "$DOCKER_PIDFILE" ] && pid="$(cat "$DOCKER_PIDFILE" 2>/dev/null || true)"
if [ -n "$pid" ] && alive "$pid"; then
    if command -v docker >/dev/null 2>&1; then
        ids="$(docker -H "$DOCKER_HOST_URL" ps -q 2>/dev/null || true)"
        if [ -n "$ids" ]; then
            log "removing running containers"
            # shellcheck disable=SC2086
            docker -H "$DOCKER_HOST_URL" rm -f $ids >/dev/null 2>&1 || true
        fi
    fi
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((WAIT_SECS * 2))); do
        alive "$pid" || break
        sleep 0.5
    done
    if alive "$pid"; then
        log "dockerd did not exit in ${WAIT_SECS}s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$DOCKER_PIDFILE"
else
    log "dockerd not running"
    rm -f "$DOCKER_PIDFILE"
fi

# containerd started by that dockerd normally exits with it; stop a leftover.
cpid="$(cat /run/baikal-docker-exec/containerd/containerd.pid 2>/dev/null || true)"
if [ -n "$cpid" ] && alive "$cpid" \
        && tr '\0' ' ' <"/proc/$cpid/cmdline" 2>/dev/null | grep -qF /run/baikal-docker-exec; then
    log "stopping leftover containerd (pid $cpid)"
    kill -TERM "$cpid" 2>/dev/null || true
    for _ in $(seq 20); do alive "$cpid" || break; sleep 0.5; done
    alive "$cpid" && kill -KILL "$cpid" 2>/dev/null
fi

if [ "$PURGE" -eq 1 ]; then
    log "purging data directories"
    # dockerd bind-mounts its data root onto itself (mount propagation); undo
    # that and anything left below it / the exec root, deepest first.
    awk '{print $5}' /proc/self/mountinfo \
        | grep -E '^(/var/lib/baikal-docker|/run/baikal-docker-exec)(/|$)' \
        | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf /var/lib/baikal-pg /var/lib/baikal-docker /run/baikal-docker-exec
fi
exit 0
