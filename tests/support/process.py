"""Run a service as a real child process (for crash and restart tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.natsserver import NatsServer


def spawn_service(service: str, server: NatsServer, data_dir: Path, cipher_key: str,
                  store: str = "sqlite", extra_env: dict[str, str] | None = None
                  ) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update({
        "BAIKAL_SERVICE": service, "BAIKAL_NATS_URL": server.url, "BAIKAL_NATS_USER": service,
        "BAIKAL_NATS_PASSWORD": server.passwords[service], "BAIKAL_DATA_DIR": str(data_dir),
        "BAIKAL_CIPHER_KEY": cipher_key, "BAIKAL_STORE": store, "BAIKAL_LOG_LEVEL": "WARNING",
        "BAIKAL_RELAY_POLL_SECONDS": "0.2",
    })
    env.update(extra_env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    run_file = data_dir / "run" / f"{service}-0.json"
    run_file.unlink(missing_ok=True)
    log = open(data_dir / f"{service}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", f"services.{service}"], env=env,
                            stdout=log, stderr=log)
    log.close()
    try:
        wait_healthy(run_file, proc)
    except (TimeoutError, RuntimeError):
        stop(proc)
        raise
    return proc


def wait_healthy(run_file: Path, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited early with {proc.returncode}")
        if run_file.exists():
            info = json.loads(run_file.read_text())
            try:
                if httpx.get(f"http://127.0.0.1:{info['http_port']}/health",
                             timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"service not healthy after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
