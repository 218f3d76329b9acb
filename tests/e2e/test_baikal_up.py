"""`baikal up` end to end: first start bootstraps, restarts are supervised, resume is quiet."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.natsserver import free_port
from tests.support.up import READY, read_until, start_up, stop_up


def children_alive(data_dir: Path) -> list[int]:
    alive = []
    for run_file in (data_dir / "run").glob("*.json"):
        pid = json.loads(run_file.read_text())["pid"]
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().split()[2] != "Z":
                    alive.append(pid)
        except FileNotFoundError:
            continue
    return alive


@pytest.mark.timeout(240)
def test_up_bootstraps_once_supervises_and_resumes(tmp_path: Path):
    data = tmp_path / "stack"
    port = free_port()
    proc, lines = start_up(data, port)
    try:
        read_until(proc, lines, READY)
        read_until(proc, lines, "secret key")
        output = "\n".join(lines)
        admin = json.loads((data / "superadmin.json").read_text())
        assert admin["access_key"] in output and admin["password"] in output
        assert stat.S_IMODE((data / "superadmin.json").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "secrets.json").stat().st_mode) == 0o600

        status = subprocess.run([sys.executable, "-m", "services.cli.main", "status", "-d",
                                 str(data), "--json"], capture_output=True, text=True,
                                timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr
        assert json.loads(status.stdout)[0]["status"] == "ok"

        identity_pid = json.loads((data / "run" / "identity-0.json").read_text())["pid"]
        os.kill(identity_pid, signal.SIGKILL)
        read_until(proc, lines, "identity exited with -9; restarting")
    finally:
        stop_up(proc, lines)
    assert proc.returncode == 0
    assert children_alive(data) == []

    proc, lines = start_up(data, port)
    try:
        read_until(proc, lines, READY)
        read_until(proc, lines, "Ctrl-C stops everything")
        output = "\n".join(lines)
        assert admin["secret_key"] not in output and "First superadmin" not in output
        assert "Superadmin  see" in output
    finally:
        stop_up(proc, lines)
