"""`baikal up` on an existing data dir whose stored ports another program now holds."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.natsserver import free_port
from tests.support.up import READY, read_until, start_up, stop_up


def hold(port: int) -> socket.socket:
    """Another program listening on 127.0.0.1:`port`."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


@pytest.mark.timeout(240)
def test_a_restart_moves_off_taken_nats_and_monitor_ports_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "stack"
    proc, lines = start_up(data, free_port())
    try:
        read_until(proc, lines, READY)
    finally:
        stop_up(proc, lines)
    first = json.loads((data / "stack.json").read_text())

    squatters = [hold(first["nats_port"]), hold(first["monitor_port"])]
    try:
        proc, lines = start_up(data, 0)
        try:
            read_until(proc, lines, READY)
            read_until(proc, lines, "Ctrl-C stops everything")
            output = "\n".join(lines)
            now = json.loads((data / "stack.json").read_text())
            assert now["nats_port"] != first["nats_port"]
            assert now["monitor_port"] != first["monitor_port"]
            assert (f"NATS port {first['nats_port']} is taken; using {now['nats_port']}"
                    in output)
            assert (f"NATS monitor port {first['monitor_port']} is taken; using "
                    f"{now['monitor_port']}" in output)
            assert "restarting" not in output  # nats-server never failed to bind
            assert f"nats://127.0.0.1:{now['nats_port']}" in output
            # Clients read the new port from the data dir.
            status = subprocess.run(
                [sys.executable, "-m", "services.cli.main", "status", "-d", str(data),
                 "--json"], capture_output=True, text=True, timeout=30)
            assert status.returncode == 0, status.stdout + status.stderr
            tail = subprocess.run(
                [sys.executable, "-m", "services.cli.main", "events", "tail", "-d", str(data),
                 "--from-start", "--limit", "1", "--idle-exit", "10"],
                capture_output=True, text=True, timeout=60)
            assert tail.returncode == 0, tail.stdout + tail.stderr
            # One event from the first start, read through the moved port.
            assert re.match(r"\S+Z (identity|rbac|quota) [A-Z]\w+ ", tail.stdout), tail.stdout
        finally:
            stop_up(proc, lines)
    finally:
        for sock in squatters:
            sock.close()
