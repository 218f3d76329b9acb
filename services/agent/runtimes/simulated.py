"""SIMULATED runtime for benchmarks: starts nothing; a 'container' runs until it is stopped.

Heartbeats say `runtime: simulated` and container ids start with `simulated-`, so nothing
downstream can mistake it for real work. Its containers vanish with the agent process: after a
restart they are reported as lost-while-agent-down.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from contracts.agent import RuntimeKind
from services.agent.domain.labels import LabelScheme
from services.agent.runtimes.base import ExitNotice, HostResources, LaunchSpec, Observed

STOPPED_BY_SIGNAL = 143  # what a real container stopped with SIGTERM reports


class SimulatedRuntime:
    kind = RuntimeKind.SIMULATED

    def __init__(self, labels: LabelScheme) -> None:
        self.labels = labels
        self.exits: asyncio.Queue[ExitNotice] = asyncio.Queue()
        self.healthy = True
        self._running: dict[str, Observed] = {}

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        self._running.clear()

    def renumbers_gpus(self) -> bool:
        return True

    async def resources(self) -> HostResources:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return HostResources(tuple(range(os.cpu_count() or 1)), int(pages))

    async def launch(self, spec: LaunchSpec) -> str:
        container_id = f"simulated-{uuid.uuid4().hex}"
        self._running[container_id] = Observed(container_id, spec.session_id, spec.labels, True)
        return container_id

    async def stop(self, container_id: str, grace: float) -> Observed | None:
        found = self._running.pop(container_id, None)
        if found is None:
            return None
        return Observed(container_id, found.session_id, found.labels, False, True,
                        STOPPED_BY_SIGNAL, True)

    async def inspect(self, container_id: str) -> Observed | None:
        return self._running.get(container_id)

    async def containers(self) -> list[Observed]:
        return list(self._running.values())

    async def remove(self, container_id: str) -> None:
        self._running.pop(container_id, None)

    async def adopt(self, observed: Observed) -> None:
        """Nothing survives a restart here."""
