"""Agent contracts: heartbeats, directed commands to one node, container events.

Agents share the stream BAI_EVT_AGENT; each publishes only under its own id:
`bai.evt.agent.<agent_id>.<event>.v1` (its NATS user may publish nothing else), and receives
directed commands on `bai.cmd.agent.<agent_id>.<verb>.v1`. Slot quantities are decimal strings:
`cpu` cores, `mem` bytes, `cuda.device` whole GPUs, `cuda.shares` fractions of a GPU.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts import subjects

SERVICE = "agent"
AgentId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
Slots = dict[Annotated[str, StringConstraints(max_length=32)], str]


class RuntimeKind(StrEnum):
    DOCKER = "docker"
    PROCESS = "process"
    SIMULATED = "simulated"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GpuInfo(_Payload):
    index: int
    uuid: str
    model: str
    memory_bytes: int
    driver_version: str
    utilization_percent: float | None = None
    memory_used_bytes: int | None = None


class RunningContainer(_Payload):
    session_id: str
    container_id: str
    slots: Slots


class Heartbeat(_Payload):
    """Published every `interval_seconds` on `bai.hb.agent.<agent_id>` (core NATS)."""

    agent_id: AgentId
    runtime: RuntimeKind
    version: str
    architecture: str
    capacity: Slots
    gpus: list[GpuInfo] = Field(default_factory=list)
    containers: list[RunningContainer] = Field(default_factory=list)
    interval_seconds: float
    sent_at: datetime


class StartContainer(_Payload):
    session_id: Annotated[str, StringConstraints(max_length=64)]
    image: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    command: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(max_length=256)
    slots: Slots
    environ: dict[Annotated[str, StringConstraints(max_length=128)],
                  Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict, max_length=128)
    labels: dict[Annotated[str, StringConstraints(max_length=128)],
                 Annotated[str, StringConstraints(max_length=256)]] = Field(
        default_factory=dict, max_length=64)
    network: bool = False


class StopContainer(_Payload):
    session_id: Annotated[str, StringConstraints(max_length=64)]
    reason: Annotated[str, StringConstraints(max_length=64)] = "user-requested"


class ListContainers(_Payload):
    pass


# ---- events ------------------------------------------------------------------------------------


class ContainerStarted(_Payload):
    agent_id: str
    session_id: str
    container_id: str
    slots: Slots  # what was actually allocated
    gpu_devices: list[int] = Field(default_factory=list)


class ContainerExited(_Payload):
    agent_id: str
    session_id: str
    container_id: str
    exit_code: int | None
    reason: str


class ContainerFailed(_Payload):
    agent_id: str
    session_id: str
    reason: str


EVENT_TYPES: dict[str, tuple[str, type[_Payload]]] = {
    "ContainerStarted": ("container-started", ContainerStarted),
    "ContainerExited": ("container-exited", ContainerExited),
    "ContainerFailed": ("container-failed", ContainerFailed),
}


def event_subject(agent_id: str, type_name: str) -> str:
    return subjects.event(SERVICE, agent_id, EVENT_TYPES[type_name][0])


def agent_events(agent_id: str) -> str:
    return f"{subjects.events_of(SERVICE)[:-1]}{agent_id}.>"


def start_subject(agent_id: str) -> str:
    return subjects.directed_command(agent_id, "start-container")


def stop_subject(agent_id: str) -> str:
    return subjects.directed_command(agent_id, "stop-container")


def list_subject(agent_id: str) -> str:
    return subjects.directed_command(agent_id, "list-containers")


HEARTBEATS = "bai.hb.agent.*"
