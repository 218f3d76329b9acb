"""The seed's group-folder walk-through on the stack `baikal up` starts, with the `baikal`
command only: the admin creates a Read-Only group folder for User B's project, User B lists it
with R without any invitation, reads a file the admin put there and cannot write."""

from __future__ import annotations

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

from services.cli.admin_client import BackendAISigner
from tests.support.natsserver import free_port

PASSWORD = "Passw0rd!"


def baikal(*args: str, cwd: Path, keys: dict[str, str] | None = None, code: int = 0) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAIKAL_")}
    env |= {"COLUMNS": "200", "BAIKAL_CONFIG": str(cwd / "absent.toml")}
    if keys is not None:
        env |= {"BAIKAL_ENDPOINT": keys["endpoint"], "BAIKAL_ACCESS_KEY": keys["access_key"],
                "BAIKAL_SECRET_KEY": keys["secret_key"]}
    done = subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr


@pytest.mark.timeout(180)
def test_the_seed_walkthrough_on_baikal_up(tmp_path: Path) -> None:
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
        found = re.search(r"Gateway\s+(http://127\.0\.0\.1:\d+)", "\n".join(lines))
        assert found, "\n".join(lines)
        url = found.group(1)
        root = json.loads((data / "superadmin.json").read_text())
        root_keys = {"endpoint": url, **root}
        with httpx.Client(base_url=url, timeout=30, auth=BackendAISigner(
                root["access_key"], root["secret_key"])) as http:
            pid = http.post("/projects", json={"name": "team-b"}).json()["project_id"]
            b = http.post("/users", json={"email": "b@example.com", "password": PASSWORD,
                                          "password_confirm": PASSWORD, "projects": [pid]})
            assert b.status_code == 201, b.text
        b_keys = {"endpoint": url, "access_key": b.json()["access_key"],
                  "secret_key": b.json()["secret_key"]}

        baikal("admin", "folder", "create", "team-data", "--group", "team-b", "--permission",
               "ro", cwd=tmp_path, keys=root_keys)
        source = tmp_path / "readme.txt"
        source.write_text("shared with the project\n")
        baikal("folder", "upload", "team-data", str(source), "--quiet", cwd=tmp_path,
               keys=root_keys)

        listed = {}
        for _ in range(100):  # storage learns B's membership from identity's stream
            listed = json.loads(baikal("admin", "folder", "list", "--json", cwd=tmp_path,
                                       keys=b_keys))
            if listed["items"]:
                break
            time.sleep(0.2)
        [row] = listed["items"]
        assert (row["name"], row["permission_label"]) == ("team-data", "R")
        assert json.loads(baikal("admin", "folder", "invitations", "--json", cwd=tmp_path,
                                 keys=b_keys))["items"] == []
        baikal("folder", "download", "team-data", "readme.txt", str(tmp_path / "got.txt"),
               "--quiet", cwd=tmp_path, keys=b_keys)
        assert (tmp_path / "got.txt").read_text() == "shared with the project\n"
        refused = baikal("folder", "upload", "team-data", str(source), "--quiet",
                         cwd=tmp_path, keys=b_keys, code=1)
        assert "storage.folder.forbidden" in refused
        assert list((data / "vfolders").iterdir())  # the folder is a real directory
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
