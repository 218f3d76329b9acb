#!/usr/bin/env bash
# Install (idempotently) what the process runtime's session sandbox needs: bubblewrap (the
# Debian package `bubblewrap`) and setpriv (util-linux). Without them an agent running as
# root refuses to run process-runtime sessions (services/agent/runtimes/sandbox.py).
#
#   deploy/ci/setup-sandbox.sh
#
# Exits 0 when both are present afterwards; non-zero (with the reason) otherwise.
set -euo pipefail

if command -v bwrap >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; then
    echo "bubblewrap $(bwrap --version | awk '{print $2}') and setpriv already present" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: install bubblewrap and util-linux (setpriv) by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q bubblewrap util-linux >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q bubblewrap util-linux >/dev/null; }
command -v bwrap >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1
echo "installed bubblewrap $(bwrap --version | awk '{print $2}')" >&2
