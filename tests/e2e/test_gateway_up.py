"""`baikal up` serves the gateway; `baikal admin`, `export`, `info` and `status` work against it
with nothing but the data dir (superadmin.json and the gateway's run file)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.natsserver import free_port


def baikal(*args: str, data: Path, cwd: Path, code: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAIKAL_")}
    env |= {"COLUMNS": "200", "BAIKAL_CONFIG": str(cwd / "absent.toml")}
    done = subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


@pytest.mark.timeout(180)
def test_up_serves_the_gateway_and_the_admin_cli_uses_it(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up", "--data-dir", str(data),
         "--nats-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, COLUMNS="200"), start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline and not any("secret key" in line for line in lines):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            lines.append(line.rstrip())
        output = "\n".join(lines)
        found = re.search(r"Gateway\s+(http://127\.0\.0\.1:\d+)", output)
        assert found, output
        url = found.group(1)
        assert httpx.get(f"{url}/").json()["version"] == "v8.20240915"
        run = json.loads((data / "run" / "gateway-0.json").read_text())
        assert url.endswith(f":{run['http_port']}")

        def admin(*args: str, code: int = 0) -> str:
            return baikal("admin", "--data-dir", str(data), *args, data=data, cwd=tmp_path,
                          code=code)

        created = json.loads(admin("user", "create", "e2e@example.com", "--password",
                                   "Passw0rd!", "--json"))
        assert created["email"] == "e2e@example.com"
        assert "e2e@example.com" in admin("user", "list")
        assert json.loads(admin("user", "deactivate", "e2e@example.com", "--json"))[
            "status"] == "inactive"
        out = baikal("export", "--data-dir", str(data), "users", "-o",
                     str(tmp_path / "users.csv"), data=data, cwd=tmp_path)
        assert "rows" in out
        with open(tmp_path / "users.csv", newline="") as handle:
            rows = {r["email"]: r for r in csv.DictReader(handle)}
        assert rows["e2e@example.com"]["is_active"] == "false"
        info = json.loads(baikal("info", "--data-dir", str(data), "--json", data=data,
                                 cwd=tmp_path))
        services = {s["service"]: s for s in info["services"]}
        assert services["identity"]["status"] == "ok" and services["identity"]["store"]
        assert services["gateway"]["status"] == "ok"
        status = baikal("status", "--data-dir", str(data), "--json", data=data, cwd=tmp_path)
        assert "gateway" in {row["service"] for row in json.loads(status)}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
