"""Agent contracts: heartbeats, directed commands to one node, container events.

Agents share the stream BAI_EVT_AGENT; each publishes only under its own id:
`bai.evt.agent.<agent_id>.<event>.v1` (its NATS user may publish nothing else), and receives
directed commands on `bai.cmd.agent.<agent_id>.<verb>.v1`. Slot quantities are decimal strings:
`cpu` cores, `mem` bytes, `cuda.device` whole GPUs, `cuda.shares` fractions of a GPU.

`start-container` and `stop-container` take a `Command` envelope (its actor must be a trusted
system, e.g. `Actor(system="scheduler")`) and reply `ContainerState`; `list-containers` takes a
`Query` envelope and replies `ContainerListing`: what the engine really runs, not the store;
`report-running` (a `Query`, `ReportRunning` → `RunningReport`) adds the starts in progress and
is what RECALCULATE USAGE asks every live agent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts import specs, subjects
from contracts.permissions import Needs, system_only
from contracts.rbac import EntityType as E
from contracts.rbac import Operation as O

SERVICE = "agent"
AgentId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
Slots = dict[Annotated[str, StringConstraints(max_length=32)], str]


class RuntimeKind(StrEnum):
    DOCKER = "docker"
    PROCESS = "process"
    SIMULATED = "simulated"


class ContainerStatus(StrEnum):
    REQUESTED = "requested"
    RUNNING = "running"
    EXITED = "exited"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a stop for a session this agent never had: nothing runs


class ExitReason(StrEnum):
    """Reasons the agent itself gives; a stop carries the caller's reason instead."""

    EXITED = "exited"  # the command ended by itself (see exit_code)
    KILLED = "killed"  # a signal the agent did not send (e.g. `docker kill` from outside)
    OOM_KILLED = "oom-killed"
    USER_REQUESTED = "user-requested"  # StopContainer's default reason
    LOST_WHILE_AGENT_DOWN = "lost-while-agent-down"  # gone, no trace of how it ended
    ORPHAN_REMOVED = "orphan-removed"  # labelled for this agent, unknown to its store


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
    access_key: str | None = None
    gpu_devices: list[int] = Field(default_factory=list)


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
    occupied: Slots = Field(default_factory=dict)  # sum of the running containers' slots
    reserved: Slots = Field(default_factory=dict)  # kept back for the host, not in capacity


class Mount(_Payload):
    """A host directory (a storage folder the scheduler had storage authorize) bound into the
    container at `target`."""

    source: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    target: Annotated[str, StringConstraints(min_length=2, max_length=512,
                                             pattern=r"^/(home/work|mnt)(/[A-Za-z0-9_][A-Za-z0-9._-]*)+$")]
    read_only: bool = True


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
    access_key: Annotated[str, StringConstraints(max_length=20)] | None = None
    mounts: list[Mount] = Field(default_factory=list, max_length=16)


class StopContainer(_Payload):
    session_id: Annotated[str, StringConstraints(max_length=64)]
    reason: Annotated[str, StringConstraints(max_length=64)] = "user-requested"


class ListContainers(_Payload):
    """A query (send a `Query` envelope): the containers the engine really has."""

    include_exited: bool = False


class ReportRunning(_Payload):
    """A query (send a `Query` envelope): what really runs or is being started on the node."""


class ReportedContainer(_Payload):
    session_id: str
    container_id: str | None = None
    state: Literal["running", "starting"]  # starting: recorded by the agent, not yet running
    slots: Slots = Field(default_factory=dict)
    access_key: str | None = None
    known: bool  # the agent's store has this session (false: a labelled stranger)


class RunningReport(_Payload):
    """Reply to `report-running`: the engine's labelled containers that run (with the slots
    from their labels) and the starts the agent has recorded but not yet seen running."""

    agent_id: str
    runtime: RuntimeKind
    reported_at: datetime
    capacity: Slots = Field(default_factory=dict)
    containers: list[ReportedContainer] = Field(default_factory=list)


class ContainerState(_Payload):
    """Reply to start/stop: the session's container as the agent's store knows it."""

    agent_id: str
    session_id: str
    status: ContainerStatus
    container_id: str | None = None
    slots: Slots = Field(default_factory=dict)
    gpu_devices: list[int] = Field(default_factory=list)
    exit_code: int | None = None
    reason: str | None = None


class ListedContainer(_Payload):
    session_id: str
    container_id: str
    running: bool
    slots: Slots = Field(default_factory=dict)
    access_key: str | None = None
    known: bool  # the agent's store has this session (false: an orphan being reported)


class ContainerListing(_Payload):
    agent_id: str
    runtime: RuntimeKind
    containers: list[ListedContainer] = Field(default_factory=list)


# ---- events ------------------------------------------------------------------------------------


class ContainerStarted(_Payload):
    agent_id: str
    session_id: str
    container_id: str
    slots: Slots  # what was actually allocated
    gpu_devices: list[int] = Field(default_factory=list)
    gpu_shares: dict[str, str] = Field(default_factory=dict)  # device index -> cuda.shares
    access_key: str | None = None
    runtime: RuntimeKind | None = None


class ContainerExited(_Payload):
    agent_id: str
    session_id: str
    container_id: str
    exit_code: int | None
    reason: str  # an ExitReason, or the reason a StopContainer gave
    slots: Slots = Field(default_factory=dict)  # released by this exit
    access_key: str | None = None
    while_agent_down: bool = False  # noticed at the agent's restart, not as it happened


class ContainerFailed(_Payload):
    agent_id: str
    session_id: str
    reason: str  # e.g. image-not-found, start-failed, agent-restarted-during-start
    detail: str = ""
    access_key: str | None = None


EVENT_TYPES: dict[str, tuple[str, type[_Payload]]] = {
    "ContainerStarted": ("container-started", ContainerStarted),
    "ContainerExited": ("container-exited", ContainerExited),
    "ContainerFailed": ("container-failed", ContainerFailed),
}


def event_subject(agent_id: str, type_name: str) -> str:
    return subjects.event(SERVICE, agent_id, EVENT_TYPES[type_name][0])


def agent_events(agent_id: str) -> str:
    return subjects.events_of_agent(agent_id)


# ---- one declaration per message (contracts/specs.py): per agent, `{agent_id}` in the subject --

# Directed commands run containers for the scheduler, and what runs on a node is the
# scheduler's to know (and operators' tools'): trusted system actors only.
_D = specs.Kind
_SLOTS = ("slots.bad_step", "slots.exclusive", "slots.insufficient", "slots.invalid",
          "slots.not_a_number", "slots.unknown")
START = specs.directed(
    subjects.directed_command_template("start-container"), _D.DIRECTED_COMMAND, StartContainer,
    system_only(E.SESSION, O.CREATE), "Start a session's container on this agent.",
    (*_SLOTS, "container.not_found", "container.invalid_transition", "command.timeout"),
    ContainerState)
STOP = specs.directed(
    subjects.directed_command_template("stop-container"), _D.DIRECTED_COMMAND, StopContainer,
    system_only(E.SESSION, O.SOFT_DELETE), "Stop a session's container on this agent.",
    ("container.stop_failed", "container.not_found", "container.invalid_transition",
     "command.timeout"),
    ContainerState)
LIST = specs.directed(
    subjects.directed_command_template("list-containers"), _D.DIRECTED_QUERY, ListContainers,
    system_only(E.SESSION, O.READ), "The containers the engine really has (not the store).",
    ("command.timeout",), ContainerListing)
REPORT = specs.directed(
    subjects.directed_command_template("report-running"), _D.DIRECTED_QUERY, ReportRunning,
    system_only(E.SESSION, O.READ),
    "What really runs or is being started on the node (asked by RECALCULATE USAGE).",
    ("command.timeout",), RunningReport)

SPECS: dict[str, specs.MessageSpec] = specs.index([
    START, STOP, LIST, REPORT,
    *(specs.event(subjects.agent_event_template(EVENT_TYPES[name][0]), name,
                  EVENT_TYPES[name][1], summary)
      for name, summary in (
          ("ContainerStarted", "A session's container runs (the slots actually allocated)."),
          ("ContainerExited", "A session's container exited (the slots it released)."),
          ("ContainerFailed", "A session's container could not start."))),
])


def start_subject(agent_id: str) -> str:
    return START.subject_for(agent_id)


def stop_subject(agent_id: str) -> str:
    return STOP.subject_for(agent_id)


def list_subject(agent_id: str) -> str:
    return LIST.subject_for(agent_id)


def report_subject(agent_id: str) -> str:
    return REPORT.subject_for(agent_id)


def command_needs(agent_id: str) -> dict[str, Needs]:
    """The directed commands' needs for one agent (a view of SPECS)."""
    return {SPECS[spec_subject].subject_for(agent_id): need
            for spec_subject, need in specs.needs(SPECS, specs.COMMANDS).items()}


def query_needs(agent_id: str) -> dict[str, Needs]:
    """The directed queries' needs for one agent (a view of SPECS)."""
    return {SPECS[spec_subject].subject_for(agent_id): need
            for spec_subject, need in specs.needs(SPECS, specs.QUERIES).items()}


HEARTBEATS = subjects.AGENT_HEARTBEATS
