"""`baikal up` end to end: first start bootstraps, restarts are supervised, resume is quiet."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.natsserver import free_port

READY = "Baikal is ready."


def start_up(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up", "--data-dir", str(data_dir),
         "--nats-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, COLUMNS="200"), start_new_session=True)
    return proc, []


def read_until(proc: subprocess.Popen[str], lines: list[str], needle: str,
               timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line.rstrip())
        if needle in line:
            return
    raise AssertionError(f"{needle!r} not seen; output:\n" + "\n".join(lines))


def stop_up(proc: subprocess.Popen[str], lines: list[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            read_until(proc, lines, "stopped", timeout=30)
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


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
