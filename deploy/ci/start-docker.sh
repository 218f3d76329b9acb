#!/usr/bin/env bash
# Start (idempotently) a private Docker daemon for baikal's integration tests
# and make sure the local image baikal/busybox:latest exists (built without
# pulling from any registry).
#
# On success the last line on stdout is:
#   DOCKER_HOST=unix:///run/baikal-docker/docker.sock
# Everything else goes to stderr, so `eval "$(deploy/ci/start-docker.sh)"`
# or `grep ^DOCKER_HOST=` both work.
#
# Exits non-zero with a message on stderr if a container runtime cannot be
# brought up here.
set -euo pipefail

SOCK_DIR=/run/baikal-docker
SOCK_PATH="$SOCK_DIR/docker.sock"
DOCKER_HOST_URL="unix://$SOCK_PATH"
DATA_ROOT=/var/lib/baikal-docker
EXEC_ROOT=/run/baikal-docker-exec
PIDFILE="$SOCK_DIR/dockerd.pid"
LOGFILE=/var/log/baikal-dockerd.log
IMAGE=baikal/busybox:latest
WAIT_SECS="${BAIKAL_DOCKER_WAIT_SECS:-60}"

log() { echo "start-docker: $*" >&2; }
die() { echo "start-docker: ERROR: $*" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive

[ "$(id -u)" -eq 0 ] || die "must run as root (runs apt-get and dockerd)"
cd /

apt_install() {
    # Keep package postinst scripts from starting a system-wide service
    # (we run our own daemon); only if no policy-rc.d is in place already.
    local added_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | tee /usr/sbin/policy-rc.d >/dev/null
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    local rc=0
    { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; } >&2 || rc=$?
    if [ "$added_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    return "$rc"
}

dk() { docker -H "$DOCKER_HOST_URL" "$@"; }

daemon_up() { dk info >/dev/null 2>&1; }

# ---------------------------------------------------------------- binaries
DOCKERD="$(command -v dockerd || true)"
[ -z "$DOCKERD" ] && [ -x /usr/sbin/dockerd ] && DOCKERD=/usr/sbin/dockerd
if [ -z "$DOCKERD" ] || ! command -v docker >/dev/null 2>&1; then
    log "docker/dockerd missing; installing Debian package docker.io"
    apt_install docker.io || die "apt-get install docker.io failed"
    DOCKERD="$(command -v dockerd || echo /usr/sbin/dockerd)"
    [ -x "$DOCKERD" ] || die "dockerd still not found after installing docker.io"
fi
command -v docker >/dev/null 2>&1 || die "docker CLI not found"
# `docker compose config` validates docker-compose.yml in the tests: the plugin if the docker
# CLI has it, else Debian's docker-compose.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
    log "no docker compose; installing Debian package docker-compose"
    apt_install docker-compose || die "apt-get install docker-compose failed"
fi

# ---------------------------------------------------------------- daemon
# A zombie counts as dead (PID 1 in some sandboxes reaps orphans only lazily,
# and `kill -0` succeeds on zombies).
alive() {
    local st
    st="$(sed -n 's/^.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
cmdline_has() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"; }

if daemon_up; then
    log "daemon already answering on $DOCKER_HOST_URL"
else
    DPID=""
    if [ -f "$PIDFILE" ]; then
        oldpid="$(cat "$PIDFILE" 2>/dev/null || true)"
        if [ -n "$oldpid" ] && alive "$oldpid" && cmdline_has "$oldpid" "$SOCK_PATH"; then
            log "dockerd pid $oldpid exists but does not answer yet; waiting for it"
            DPID="$oldpid"
        else
            rm -f "$PIDFILE"
        fi
    fi
    if [ -z "$DPID" ]; then
        # containerd orphaned by a previous dockerd of ours that died hard:
        # dockerd would wait on it ("containerd is still running") and time out.
        CPIDFILE="$EXEC_ROOT/containerd/containerd.pid"
        if [ -f "$CPIDFILE" ]; then
            cpid="$(cat "$CPIDFILE" 2>/dev/null || true)"
            if [ -n "$cpid" ] && alive "$cpid" && cmdline_has "$cpid" "$EXEC_ROOT"; then
                log "stopping orphaned containerd pid $cpid"
                kill -TERM "$cpid" 2>/dev/null || true
                for _ in $(seq 20); do alive "$cpid" || break; sleep 0.5; done
                alive "$cpid" && kill -KILL "$cpid" 2>/dev/null || true
            fi
            rm -f "$CPIDFILE"
        fi
        mkdir -p "$SOCK_DIR" "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$LOGFILE")"
        log "starting $DOCKERD (log: $LOGFILE)"
        # setsid+nohup: own session, immune to SIGHUP, outlives this script.
        setsid nohup "$DOCKERD" \
            --iptables=false --ip6tables=false --bridge=none \
            --storage-driver=vfs \
            --data-root "$DATA_ROOT" \
            --exec-root "$EXEC_ROOT" \
            -H "$DOCKER_HOST_URL" \
            --pidfile "$PIDFILE" \
            </dev/null >>"$LOGFILE" 2>&1 &
        DPID=$!
        disown || true
    fi
    deadline=$((SECONDS + WAIT_SECS))
    until daemon_up; do
        if ! alive "$DPID"; then
            log "last lines of $LOGFILE:"
            tail -n 30 "$LOGFILE" >&2 || true
            die "dockerd (pid $DPID) exited during startup; see $LOGFILE"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "last lines of $LOGFILE:"
            tail -n 30 "$LOGFILE" >&2 || true
            die "dockerd (pid $DPID) did not answer on $DOCKER_HOST_URL within ${WAIT_SECS}s"
        fi
        sleep 0.5
    done
    log "daemon is up (pid $DPID)"
fi

# ---------------------------------------------------------------- image
if dk image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE already present"
else
    is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }
    BUSYBOX=""
    for c in /bin/busybox /usr/bin/busybox; do
        if is_static "$c"; then BUSYBOX="$c"; break; fi
    done
    if [ -z "$BUSYBOX" ]; then
        log "installing busybox-static"
        apt_install busybox-static || die "apt-get install busybox-static failed"
        BUSYBOX=/bin/busybox
    fi
    is_static "$BUSYBOX" || die "no statically linked busybox at $BUSYBOX"

    log "building $IMAGE from $BUSYBOX (docker import, no pull)"
    ROOTFS="$(mktemp -d /tmp/baikal-busybox-rootfs.XXXXXX)"
    trap 'rm -rf "$ROOTFS"' EXIT
    chmod 0755 "$ROOTFS"   # mktemp -d makes it 0700: non-root users could not traverse /
    mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,tmp,proc,sys,dev,etc,root,var/tmp}
    chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp"
    cp "$BUSYBOX" "$ROOTFS/bin/busybox"
    chmod 0755 "$ROOTFS/bin/busybox"
    # Explicit links first (guaranteed), then every applet busybox knows.
    for a in sh sleep cat echo ls head tail grep awk sed wc true false env id \
             nproc free ps kill dd yes mkdir rm touch date hostname top seq \
             cut sort uniq tr tee xargs find stat test printf uname whoami; do
        ln -sf busybox "$ROOTFS/bin/$a"
    done
    while read -r app; do
        [ -n "$app" ] || continue
        case "$app" in
            /*) dst="$ROOTFS$app" ;;
            *)  dst="$ROOTFS/bin/$app" ;;
        esac
        [ -e "$dst" ] || [ -L "$dst" ] || ln -s /bin/busybox "$dst" 2>/dev/null || true
    done < <("$ROOTFS/bin/busybox" --list-full 2>/dev/null || true)
    cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
EOF
    echo 'hosts: files dns' >"$ROOTFS/etc/nsswitch.conf"
    tar --numeric-owner --owner=0 --group=0 -C "$ROOTFS" -c . \
        | dk import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' - "$IMAGE" >&2 \
        || die "docker import of $IMAGE failed"
    rm -rf "$ROOTFS"
    trap - EXIT
fi

# ---------------------------------------------------------------- smoke test
# Memory limit must be enforced and visible (cgroup v2 memory.max, or cgroup v1
# memory.limit_in_bytes).
mem="$(dk run --rm --network none --memory 64m --cpus 0.5 "$IMAGE" \
        sh -c 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes' 2>&1)" \
    || die "test container failed to run: $mem"
mem="$(printf '%s' "$mem" | tr -d '[:space:]')"
[ "$mem" = "67108864" ] \
    || die "container memory limit not enforced: expected 67108864, container saw '$mem'"
log "container runtime OK (64m limit visible as $mem)"

echo "DOCKER_HOST=$DOCKER_HOST_URL"
