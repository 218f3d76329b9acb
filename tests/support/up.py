"""Drive `baikal up` as a subprocess: start it on a data dir, read its output, stop it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.cli.stack import free_port

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


CREDENTIALS_PRINTED = "secret key"  # the last line of the first start's superadmin block


@dataclass
class UpStack:
    """A running `baikal up`: its process, what it printed, its data dir and gateway URL."""

    proc: subprocess.Popen[str]
    lines: list[str]
    data: Path
    url: str

    @property
    def superadmin(self) -> dict[str, str]:
        return json.loads((self.data / "superadmin.json").read_text())  # type: ignore[no-any-return]


@contextmanager
def running_up(data_dir: Path, timeout: float = 120.0) -> Iterator[UpStack]:
    """Start `baikal up` on a new data dir, wait for the first superadmin's credentials,
    yield the stack, and stop it (SIGINT, then SIGKILL of its process group) however the
    block ends."""
    proc, lines = start_up(data_dir, free_port())
    try:
        read_until(proc, lines, CREDENTIALS_PRINTED, timeout=timeout)
        found = re.search(r"Gateway\s+(http://127\.0\.0\.1:\d+)", "\n".join(lines))
        assert found, "\n".join(lines)
        yield UpStack(proc, lines, data_dir, found.group(1))
    finally:
        stop_up(proc, lines)


def baikal(*args: str, cwd: Path, env: dict[str, str] | None = None, code: int = 0) -> str:
    """Run the `baikal` command as a person would, with no BAIKAL_* setting of this process
    leaking in (only `env`'s) and no config file; assert its exit code, return its output."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BAIKAL_")}
    clean |= {"COLUMNS": "200", "BAIKAL_CONFIG": str(cwd / "absent.toml"), **(env or {})}
    done = subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=cwd,
                          env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done.stdout + done.stderr
