"""Drive `baikal up` as a subprocess: start it on a data dir, read its output, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
