"""The NVIDIA MPS control daemon, started once when the node first hands out `cuda.shares`."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil

log = logging.getLogger(__name__)

PIPE_DIR = "CUDA_MPS_PIPE_DIRECTORY"
LOG_DIR = "CUDA_MPS_LOG_DIRECTORY"
DEFAULT_PIPE_DIR = "/tmp/nvidia-mps"  # noqa: S108 - NVIDIA's default pipe directory


class MpsControl:
    def __init__(self, binary: str = "nvidia-cuda-mps-control", pipe_dir: str | None = None,
                 log_dir: str | None = None) -> None:
        self.binary = binary
        self.pipe_dir = pipe_dir
        self.log_dir = log_dir
        self.started = False
        self._lock = asyncio.Lock()
        self._warned = False

    def client_environ(self) -> dict[str, str]:
        """What an MPS client needs to find the daemon (nothing when defaults are used)."""
        return {PIPE_DIR: self.pipe_dir} if self.pipe_dir else {}

    async def ensure_started(self) -> bool:
        """Start `nvidia-cuda-mps-control -d` unless it runs; False where MPS is missing, so
        shares are then counted but not enforced (logged once)."""
        async with self._lock:
            if self.started:
                return True
            path = shutil.which(self.binary)
            if path is None:
                if not self._warned:
                    log.warning("%s not found: cuda.shares are allocated but not enforced",
                                self.binary)
                    self._warned = True
                return False
            env = dict(os.environ)
            for key, value in ((PIPE_DIR, self.pipe_dir), (LOG_DIR, self.log_dir)):
                if value:
                    os.makedirs(value, exist_ok=True)
                    env[key] = value
            proc = await asyncio.create_subprocess_exec(
                path, "-d", env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            output, _ = await asyncio.wait_for(proc.communicate(), 30)
            text = output.decode(errors="replace").strip()
            # A daemon already running (ours from before a restart, or the host's) is fine.
            self.started = proc.returncode == 0 or "already running" in text.lower()
            if self.started:
                log.info("MPS control daemon running (%s)", text or "started")
            else:
                log.error("MPS control daemon did not start (rc %s): %s", proc.returncode, text)
            return self.started
