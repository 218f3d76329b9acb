"""The scheduler's replies (contracts/scheduler.py SPECS name them).

Slot quantities are decimal strings (`mem` in bytes); times are Unix seconds (floats).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from contracts.agent import Heartbeat
from contracts.replies import Page, ReplyModel
from contracts.values import SessionStatus, SessionType

Slots = dict[str, str]
MountPath = Annotated[str, StringConstraints(max_length=512)]


class SessionState(ReplyModel):
    """`session.request`, `session.terminate`, `session.touch`: the session's status now."""

    session_id: str
    status: SessionStatus


class StatusChange(ReplyModel):
    status: SessionStatus
    reason: str
    at: float


class RequestedMount(ReplyModel):
    folder: str
    path: MountPath | None = None


class SessionRow(ReplyModel):
    session_id: str
    name: str
    access_key: str
    user_id: str
    project: str | None
    image: str
    session_type: SessionType
    slots: Slots = Field(description="Requested, then what the agent allocated")
    cluster_size: int
    designated_agent: str | None
    status: SessionStatus
    agent_id: str | None
    container_id: str | None
    failed_checks: list[str] = Field(description="Why the last placement attempt failed")
    requested_at: float
    started_at: float | None
    terminated_at: float | None
    last_activity: float
    reason: str
    version: int
    mounts: list[RequestedMount] | None = Field(
        default=None, description="Storage folders asked for (absent when none)")


class SessionDetail(SessionRow):
    """`sessions.get`: one session with its status history."""

    history: list[StatusChange]


class SessionPage(Page):
    items: list[SessionRow]


class AgentRow(Heartbeat):
    """An agent as its last heartbeat described it, with what the scheduler has placed on it
    (`occupied`) and whether it is alive."""

    status: Literal["ALIVE", "LOST"]


class AgentList(ReplyModel):
    items: list[AgentRow]


class SessionCounts(ReplyModel):
    active: int
    pending: int
    max_concurrent: str = Field(description="An integer string or 'unlimited'")


class KeypairResources(ReplyModel):
    """`resources.indicator`: capacity, the keypair's limit and use, what it can take now."""

    access_key: str
    capacity: Slots
    limit: Slots
    used: Slots
    allocatable: Slots
    largest_agent: Slots
    sessions: SessionCounts


class Occupancy(ReplyModel):
    key: str
    occupied: Slots


class UsageListing(ReplyModel):
    """`usage.list`: each kind's ledgers (only the kind asked for, when one is)."""

    keypair: list[Occupancy] | None = None
    user: list[Occupancy] | None = None
    project: list[Occupancy] | None = None
    domain: list[Occupancy] | None = None
    agent: list[Occupancy] | None = None


class Correction(ReplyModel):
    ledger: str = Field(description="<kind>:<key>")
    session_id: str
    cause: str


class Orphan(ReplyModel):
    agent_id: str
    session_id: str
    container_id: str
    cause: str


class Drift(ReplyModel):
    subject: str = Field(description="<kind>:<key>, e.g. agent:n1")
    slot: str
    tracked: str
    actual: str
    cause: str


class RecalculationStage(ReplyModel):
    stage: str = Field(description="snapshot, replay, agents, compare or commit")
    done: int
    total: int


class RecalculationProgress(ReplyModel):
    """`usage.recalculation`: where one RECALCULATE USAGE run stands, stage by stage."""

    run_id: str
    known: bool = Field(description="false: this scheduler never began the run (or forgot it)")
    finished: bool
    stage: str | None = Field(description="the stage running now; null once finished")
    stages: list[RecalculationStage]


class Recalculation(ReplyModel):
    """`usage.recalculate`: what one RECALCULATE USAGE run found and corrected."""

    run_id: str
    summary: dict[str, int] = Field(
        description="drifts, corrections, sessions_ended, orphans, orphans_stopped, skipped")
    events_replayed: int
    agents_asked: list[str]
    agents_unanswered: list[str]
    duration: float = Field(description="Seconds")
    corrections: list[Correction]
    orphans: list[Orphan]
    drifts: list[Drift]
