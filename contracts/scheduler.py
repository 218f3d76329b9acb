"""Scheduler contracts: session requests, status lifecycle, queries, events.

Requested slots use the quota wire form: decimal strings, `mem` in bytes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts import specs, subjects
from contracts.permissions import Needs, Target, any_user, rows, scoped, system_wide
from contracts.rbac import EntityType as E
from contracts.rbac import Operation as O
from contracts.rbac import ScopeType as Sc
from contracts.replies import scheduler as r
from contracts.values import AccessKey, Limit, Offset
from contracts.values import SessionStatus as SessionStatus
from contracts.values import SessionType as SessionType

SERVICE = "scheduler"


TERMINAL = (SessionStatus.TERMINATED, SessionStatus.CANCELLED, SessionStatus.ERROR)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


Text = Annotated[str, StringConstraints(max_length=256)]


# Where a folder may appear in a session: under the work directory or /mnt, plain names only.
MOUNT_PATH = r"^/(home/work|mnt)(/[A-Za-z0-9_][A-Za-z0-9._-]*)+$"


class FolderMount(_Payload):
    """A storage folder (name or id) for the session, admitted by storage when the session is
    requested (refused: `session.mount_forbidden`); mounted read-only unless the owner's
    permission allows writing."""

    folder: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    path: Annotated[str, StringConstraints(max_length=512, pattern=MOUNT_PATH)] | None = None


class RequestSession(_Payload):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    image: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    command: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list, max_length=256)
    session_type: SessionType = SessionType.INTERACTIVE
    slots: dict[Annotated[str, StringConstraints(max_length=32)], int | float | str] = Field(
        max_length=16)
    cluster_size: Annotated[int, Field(ge=1, le=1000)] = 1
    project: Text | None = None
    agent: Text | None = None
    priority: Annotated[int, Field(ge=0, le=100)] = 10
    mounts: list[FolderMount] = Field(default_factory=list, max_length=16)


class SessionRef(_Payload):
    session_id: Annotated[str, StringConstraints(max_length=64)]


class TerminateSession(SessionRef):
    reason: Annotated[str, StringConstraints(max_length=64)] = "user-requested"


class ListSessions(_Payload):
    status: list[SessionStatus] | None = None
    access_key: AccessKey | None = None
    user_id: Text | None = None
    project: Text | None = None
    offset: Offset = 0
    limit: Limit = 50


class ListAgents(_Payload):
    status: Literal["ALIVE", "LOST"] | None = None


class ResourceIndicator(_Payload):
    access_key: AccessKey


class RecalculateUsage(_Payload):
    """RECALCULATE USAGE: replay container events, ask every live agent, correct the ledgers.

    `stop_orphans` None follows the scheduler's setting; `agent_timeout_seconds` bounds the
    wait for each agent's report (one that does not answer is reported, never guessed)."""

    stop_orphans: bool | None = None
    agent_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 2.0


class RecalculationStatus(_Payload):
    """Where a RECALCULATE USAGE run stands (by its run id, the command id): each stage
    reached (snapshot, replay, agents, compare, commit) with done of total."""

    run_id: Annotated[str, Field(min_length=1, max_length=300)]


UsageKind = Literal["keypair", "user", "project", "domain", "agent"]


class ListUsage(_Payload):
    """What each keypair, user, project, domain and agent occupies now (its ledgers)."""

    kind: UsageKind | None = None


class UsageDriftDetected(_Payload):
    """One corrected (subject, slot): `subject` is `<kind>:<key>` (agent:n1, keypair:AKIA..,
    user:<id>, project:<id>, domain:<name>); quantities are decimal strings."""

    subject: str
    slot: str
    tracked: str
    actual: str
    cause: str


class UsageRecalculated(_Payload):
    summary: dict[str, int]
    events_replayed: int
    agents_asked: list[str]
    agents_unanswered: list[str]
    duration: float  # seconds


class SessionRequested(_Payload):
    session_id: str
    name: str
    access_key: str
    user_id: str
    project: str | None
    image: str
    session_type: SessionType
    slots: dict[str, str]
    cluster_size: int


class SessionStatusChanged(_Payload):
    session_id: str
    access_key: str
    status: SessionStatus
    previous: SessionStatus | None
    reason: str
    agent_id: str | None = None
    slots: dict[str, str] = Field(default_factory=dict)


EVENT_TYPES: dict[str, tuple[str, str, type[_Payload]]] = {
    "SessionRequested": ("session", "requested", SessionRequested),
    "SessionScheduled": ("session", "scheduled", SessionStatusChanged),
    "SessionPreparing": ("session", "preparing", SessionStatusChanged),
    "SessionStarted": ("session", "started", SessionStatusChanged),
    "SessionTerminating": ("session", "terminating", SessionStatusChanged),
    "SessionTerminated": ("session", "terminated", SessionStatusChanged),
    "SessionCancelled": ("session", "cancelled", SessionStatusChanged),
    "SessionErrored": ("session", "errored", SessionStatusChanged),
    "UsageDriftDetected": ("usage", "drift-detected", UsageDriftDetected),
    "UsageRecalculated": ("usage", "recalculated", UsageRecalculated),
}


def event_subject(type_name: str) -> str:
    aggregate, name, _ = EVENT_TYPES[type_name]
    return subjects.event(SERVICE, aggregate, name)


class Subjects:
    SESSION_REQUEST = subjects.command(SERVICE, "session", "request")
    SESSION_TERMINATE = subjects.command(SERVICE, "session", "terminate")
    SESSION_TOUCH = subjects.command(SERVICE, "session", "touch")
    SESSION_LIST = subjects.query(SERVICE, "sessions", "list")
    SESSION_GET = subjects.query(SERVICE, "sessions", "get")
    AGENT_LIST = subjects.query(SERVICE, "agents", "list")
    RESOURCE_INDICATOR = subjects.query(SERVICE, "resources", "indicator")
    USAGE_RECALCULATE = subjects.command(SERVICE, "usage", "recalculate")
    USAGE_LIST = subjects.query(SERVICE, "usage", "list")
    USAGE_RECALCULATION = subjects.query(SERVICE, "usage", "recalculation")


# ---- one declaration per message (contracts/specs.py); the tables below are views of it ------

# A session belongs to the user who requested it: requests are checked at the actor's own
# scope, the rest at the owner's (so a project or domain grant covers its members' sessions).
# Reads: a session at its owner's user scope; the session list answers only the readable
# rows. Agents: read at the caller's own domain (a domain admin's role; Backend.AI: admins and
# superadmins). The resource indicator shows a keypair's limits and use: keypair:read at its
# owner's scope.
S = Subjects
_STATUS_EVENTS = (
    ("SessionScheduled", "A session was placed on an agent (slots reserved)."),
    ("SessionPreparing", "The agent was asked to start the session's container."),
    ("SessionStarted", "The session's container runs."),
    ("SessionTerminating", "The session is being stopped."),
    ("SessionTerminated", "The session ended (slots released)."),
    ("SessionCancelled", "The session was cancelled before it ran."),
    ("SessionErrored", "The session failed (its container could not start or failed)."),
)

SPECS: dict[str, specs.MessageSpec] = specs.index([
    specs.command(S.SESSION_REQUEST, RequestSession,
                  scoped(E.SESSION, O.CREATE, Sc.USER, Target.ACTOR),
                  "Request a compute session; admitted against the keypair's policy and, for "
                  "its folders, by storage (host paths, read-only or not); queued PENDING.",
                  ("auth.unauthenticated", "policy.unknown", "session.bad_slot",
                   "session.unknown_slot", "session.exceeds_policy", "session.exceeds_cluster",
                   "session.too_many_pending", "session.mount_forbidden",
                   "service.unavailable"), reply=r.SessionState),
    specs.command(S.SESSION_TERMINATE, TerminateSession,
                  scoped(E.SESSION, O.SOFT_DELETE, Sc.USER, Target.SESSION, "session_id"),
                  "Terminate (or cancel) a session.",
                  ("session.not_found", "session.invalid_transition"), reply=r.SessionState),
    specs.command(S.SESSION_TOUCH, SessionRef,
                  scoped(E.SESSION, O.UPDATE, Sc.USER, Target.SESSION, "session_id"),
                  "Mark a session as used now (its idle timeout restarts).",
                  ("session.not_found",), reply=r.SessionState),
    # Cluster-wide (every agent, every keypair): no scoped grant covers it; superadmins only,
    # as in the reference (`POST /resource/recalculate-usage`).
    specs.command(S.USAGE_RECALCULATE, RecalculateUsage, system_wide(E.AGENT, O.UPDATE),
                  "RECALCULATE USAGE: replay container events, ask every agent, correct the "
                  "ledgers.",
                  ("usage.unavailable", "usage.recalculation_conflict",
                   "usage.recalculation_timeout", "usage.replay_unavailable"),
                  reply=r.Recalculation),
    specs.query(S.SESSION_LIST, ListSessions, rows(E.SESSION, O.READ, Sc.USER),
                "The sessions the caller may read, filtered and paged.", reply=r.SessionPage),
    specs.query(S.SESSION_GET, SessionRef,
                scoped(E.SESSION, O.READ, Sc.USER, Target.SESSION, "session_id"),
                "One session.", ("session.not_found",), reply=r.SessionDetail),
    specs.query(S.AGENT_LIST, ListAgents, scoped(E.AGENT, O.READ, Sc.DOMAIN, Target.ACTOR),
                "The agents (alive or lost) with their capacity and occupied slots.",
                reply=r.AgentList),
    specs.query(S.RESOURCE_INDICATOR, ResourceIndicator,
                scoped(E.KEYPAIR, O.READ, Sc.USER, Target.KEYPAIR, "access_key"),
                "A keypair's limits and what its sessions occupy.",
                ("auth.unauthenticated", "policy.unknown"), reply=r.KeypairResources),
    specs.query(S.USAGE_RECALCULATION, RecalculationStatus, system_wide(E.AGENT, O.READ),
                "Where a RECALCULATE USAGE run stands: each stage, done of total.",
                ("usage.unavailable",), reply=r.RecalculationProgress),
    # Any user; the handler keeps a plain user to their own keypair and user rows.
    specs.query(S.USAGE_LIST, ListUsage, any_user(E.SESSION, O.READ),
                "What each keypair, user, project, domain and agent occupies now.",
                reply=r.UsageListing),
    specs.event(event_subject("SessionRequested"), "SessionRequested", SessionRequested,
                "A session was requested and admitted (PENDING)."),
    *(specs.event(event_subject(name), name, SessionStatusChanged, summary)
      for name, summary in _STATUS_EVENTS),
    specs.event(event_subject("UsageDriftDetected"), "UsageDriftDetected", UsageDriftDetected,
                "RECALCULATE USAGE corrected one ledger entry."),
    specs.event(event_subject("UsageRecalculated"), "UsageRecalculated", UsageRecalculated,
                "RECALCULATE USAGE finished (its summary)."),
])

COMMAND_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.COMMANDS)
QUERY_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.QUERIES)
COMMAND_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.COMMANDS)
QUERY_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.QUERIES)
