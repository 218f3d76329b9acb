#!/usr/bin/env bash
# Create (idempotently) a separate virtualenv holding the official Backend.AI client SDK,
# used only as a test oracle for request signing (tests/service/gateway/test_sdk_signing.py).
#
# It lives apart from baikal's environment because backend.ai-client 23.9.10 (the newest that
# installs on Python 3.11) pins aiohttp 3.8, which conflicts with aiodocker, and breaks with
# yarl >= 1.9.5 (it reads endpoint._val.netloc).
#
#   deploy/ci/setup-sdk-venv.sh [VENV_DIR]     (default: $BAIKAL_SDK_VENV or /opt/baikal-sdk-venv)
#
# Prints BAIKAL_SDK_VENV=<dir> as its last line on success; exits non-zero on failure.
set -euo pipefail

VENV="${1:-${BAIKAL_SDK_VENV:-/opt/baikal-sdk-venv}}"
PY="${PYTHON:-python3}"
SDK_SPEC="backend.ai-client==23.9.10"
MARKER="$VENV/.baikal-sdk-ok"

check() {
    "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
from ai.backend.client.auth import generate_signature  # noqa: F401
from ai.backend.client.config import APIConfig  # noqa: F401
PY
}

if [ -f "$MARKER" ] && [ -x "$VENV/bin/python" ] && check; then
    echo "SDK venv already present at $VENV" >&2
    echo "BAIKAL_SDK_VENV=$VENV"
    exit 0
fi

echo "creating SDK venv at $VENV ($SDK_SPEC)" >&2
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "$SDK_SPEC" "yarl<1.9.5" >&2
check || { echo "the SDK installed but ai.backend.client.auth does not import" >&2; exit 1; }
touch "$MARKER"
echo "BAIKAL_SDK_VENV=$VENV"
