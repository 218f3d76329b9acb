"""The scheduler's bus handlers, one top-level function per message, by aggregate (sessions,
agents' capacity, usage); `HANDLERS` is the table `services.runtime.serve` subscribes from
`contracts.scheduler.SPECS`."""

from __future__ import annotations

from services.runtime.serve import SpecHandler, table
from services.scheduler.handlers import agents, sessions, usage
from services.scheduler.handlers.deps import SchedulerDeps

HANDLERS: dict[str, SpecHandler[SchedulerDeps]] = table(
    sessions.HANDLERS, agents.HANDLERS, usage.HANDLERS)

__all__ = ["HANDLERS", "SchedulerDeps"]
