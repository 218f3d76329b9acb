"""Per-container cgroups for the process runtime (v1 memory + cpu, or v2), where allowed."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


@dataclass(frozen=True)
class Cgroups:
    """Groups under `<hierarchy>/<group>/<container name>`; `version` is 1 or 2."""

    version: int
    bases: tuple[Path, ...]  # v1: (memory, cpu); v2: (unified,)

    @classmethod
    def detect(cls, group: str, root: Path = ROOT) -> Cgroups | None:
        """Usable cgroups, or None (read-only, missing controllers): then rlimits only."""
        try:
            if (root / "memory" / "memory.limit_in_bytes").exists():
                found = cls(1, (root / "memory" / group, root / "cpu" / group))
            elif (root / "cgroup.controllers").exists():
                found = cls(2, (root / group,))
                found._enable_v2(root)
            else:
                return None
            for base in found.bases:
                base.mkdir(exist_ok=True)
                probe = base / "baikal-probe"
                probe.mkdir(exist_ok=True)
                probe.rmdir()
        except OSError as exc:
            log.info("cgroups not usable here (%s): memory via rlimits, CPU via affinity", exc)
            return None
        return found

    def _enable_v2(self, root: Path) -> None:
        wanted = {"memory", "cpu"}
        if not wanted <= set((root / "cgroup.controllers").read_text().split()):
            raise OSError("cgroup v2 lacks the memory or cpu controller")
        (root / "cgroup.subtree_control").write_text("+memory +cpu")
        self.bases[0].mkdir(exist_ok=True)
        (self.bases[0] / "cgroup.subtree_control").write_text("+memory +cpu")

    def paths(self, name: str) -> list[Path]:
        return [base / name for base in self.bases]

    def create(self, name: str, cpu: Decimal, mem: int) -> list[str]:
        """Make the container's groups with its limits; the launcher joins them."""
        for path in self.paths(name):
            path.mkdir(exist_ok=True)
        quota = max(1000, int(cpu * PERIOD_US))
        if self.version == 1:
            memory, cpu_group = self.paths(name)
            (memory / "memory.limit_in_bytes").write_text(str(mem))
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(mem))
            (cpu_group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (cpu_group / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (group,) = self.paths(name)
            (group / "memory.max").write_text(str(mem))
            swap = group / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        return [str(p) for p in self.paths(name)]

    def oom_killed(self, name: str) -> bool:
        memory = self.paths(name)[0]
        source = memory / ("memory.oom_control" if self.version == 1 else "memory.events")
        try:
            lines = source.read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split() for line in lines if len(line.split()) == 2)
        return int(counts.get("oom_kill", "0")) > 0

    def kill_all(self, name: str) -> None:
        """SIGKILL whatever is left in the container's groups (children that left its pgrp)."""
        for path in self.paths(name):
            with contextlib.suppress(OSError):
                for pid in (path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)

    def remove(self, name: str) -> None:
        for path in self.paths(name):
            with contextlib.suppress(FileNotFoundError):
                try:
                    path.rmdir()
                except OSError as exc:
                    log.warning("cannot remove cgroup %s: %s", path, exc)
