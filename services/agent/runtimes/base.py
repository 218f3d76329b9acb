"""What every runtime (docker, process, simulated) offers the supervisor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from contracts.agent import RuntimeKind
from services.agent.domain.labels import LabelScheme
from services.agent.domain.slots import Allocation


class LaunchError(Exception):
    """The runtime could not start the container; `reason` becomes ContainerFailed.reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class LaunchSpec:
    session_id: str
    name: str
    image: str
    command: list[str]
    environ: dict[str, str]
    labels: dict[str, str]
    network: bool
    allocation: Allocation
    gpu_uuids: list[str] = field(default_factory=list)
    mounts: list[tuple[str, str, bool]] = field(default_factory=list)  # source, target, ro


@dataclass(frozen=True)
class Observed:
    """One labelled container as the engine sees it now."""

    container_id: str
    session_id: str
    labels: dict[str, str]
    running: bool
    ever_started: bool = True
    exit_code: int | None = None
    signalled: bool = False  # ended by a signal (exact for processes, from the code for Docker)
    oom_killed: bool = False


@dataclass(frozen=True)
class ExitNotice:
    """Something ended (or may have): the supervisor inspects and records it."""

    container_id: str
    session_id: str | None
    hint: Observed | None = None


@dataclass(frozen=True)
class HostResources:
    cores: tuple[int, ...]
    mem_bytes: int


class Runtime(Protocol):
    kind: RuntimeKind
    labels: LabelScheme
    exits: asyncio.Queue[ExitNotice]
    healthy: bool

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def resources(self) -> HostResources: ...

    async def launch(self, spec: LaunchSpec) -> str: ...

    async def stop(self, container_id: str, grace: float) -> Observed | None: ...

    async def inspect(self, container_id: str) -> Observed | None: ...

    async def containers(self) -> list[Observed]:
        """Every container labelled for this agent, running or not."""
        ...

    async def remove(self, container_id: str) -> None: ...

    async def adopt(self, observed: Observed) -> None:
        """Watch a container found running at restart (runtimes without an event feed)."""
        ...

    def renumbers_gpus(self) -> bool:
        """True where the engine exposes only the allocated GPUs, numbered from 0."""
        ...
