"""What the scheduler's handlers are given: the application, the guard, the recalculator
and the folder-mount admission."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.permissions import PermissionGuard
from services.scheduler.lifecycle import Scheduler
from services.scheduler.mounts import MountAdmission
from services.scheduler.recalc import UsageRecalculator


@dataclass(frozen=True)
class SchedulerDeps:
    app: Scheduler
    guard: PermissionGuard
    recalculator: UsageRecalculator | None = None  # none: usage.recalculate is unavailable
    admission: MountAdmission | None = None  # none: folder mounts are asked at session start
