"""Bus handlers for bai.cmd.scheduler.* and bai.qry.scheduler.*."""

from __future__ import annotations

from typing import Any

from contracts import scheduler as c
from contracts.envelope import Command, Query
from contracts.values import UserRole
from services.runtime.dispatch import Dispatcher
from services.runtime.permissions import PermissionGuard
from services.scheduler.domain import recalc as r
from services.scheduler.domain import slots as s
from services.scheduler.domain.errors import refuse
from services.scheduler.lifecycle import Scheduler
from services.scheduler.recalc import UsageRecalculator

S = c.Subjects


def register(dispatcher: Dispatcher, app: Scheduler, guard: PermissionGuard,
             recalculator: UsageRecalculator | None = None) -> None:
    def request(envelope: Command, p: c.RequestSession) -> dict[str, Any]:
        return app.request_session(envelope.id, envelope.actor, p)

    def terminate(envelope: Command, p: c.TerminateSession) -> dict[str, Any]:
        return app.terminate_session(envelope.id, envelope.actor, p)

    def touch(envelope: Command, p: c.SessionRef) -> dict[str, Any]:
        return app.touch(envelope.actor, p.session_id)

    def list_sessions(envelope: Query, q: c.ListSessions) -> dict[str, Any]:
        readable = guard.readable(envelope.actor, c.QUERY_NEEDS[S.SESSION_LIST])
        return app.view.list(q, readable)

    def get_session(envelope: Query, q: c.SessionRef) -> dict[str, Any]:
        found = app.view.get(q.session_id)  # readable: the dispatcher checked it
        if found is None:
            raise refuse("session.not_found", "no such session", field="session_id")
        return found

    def list_agents(envelope: Query, q: c.ListAgents) -> dict[str, Any]:
        rows = []
        for agent in app.agents.agents.values():
            if q.status not in (None, agent["status"]):
                continue
            occupied = s.to_wire(app.view.agent_reserved(agent["agent_id"]))
            rows.append({k: v for k, v in agent.items() if k != "last_seen"} |
                        {"occupied": occupied})
        return {"items": sorted(rows, key=lambda a: a["agent_id"])}

    def recalculate(envelope: Command, p: c.RecalculateUsage) -> dict[str, Any]:
        # Who may: the guard checked the declared need (system-wide: superadmins).
        if recalculator is None:
            raise refuse("usage.unavailable", "this scheduler runs no recalculator")
        return recalculator.run_blocking(envelope.id, p.stop_orphans, p.agent_timeout_seconds)

    commands: list[tuple[str, Any]] = [(S.SESSION_REQUEST, request),
                                       (S.SESSION_TERMINATE, terminate),
                                       (S.SESSION_TOUCH, touch),
                                       (S.USAGE_RECALCULATE, recalculate)]
    for subject, handler in commands:
        dispatcher.command(subject, c.COMMAND_PAYLOADS[subject], handler,
                           c.COMMAND_NEEDS[subject])
    for subject, handler in ((S.SESSION_LIST, list_sessions), (S.SESSION_GET, get_session),
                             (S.AGENT_LIST, list_agents),
                             (S.RESOURCE_INDICATOR, lambda e, q: resource_indicator(app, q)),
                             (S.USAGE_LIST, lambda e, q: usage(app, e, q)),
                             (S.USAGE_RECALCULATION, lambda e, q: recalculation(recalculator,
                                                                                q))):
        dispatcher.query(subject, c.QUERY_PAYLOADS[subject], handler, c.QUERY_NEEDS[subject])


def recalculation(recalculator: UsageRecalculator | None,
                  q: c.RecalculationStatus) -> dict[str, Any]:
    if recalculator is None:
        raise refuse("usage.unavailable", "this scheduler runs no recalculator")
    return recalculator.status(q.run_id)


def usage(app: Scheduler, envelope: Query, q: c.ListUsage) -> dict[str, Any]:
    """What each keypair, user, project, domain and agent occupies now (by the ledgers).
    Admins and monitors see everything; a user sees their own keypair and user rows."""
    principal = app.directory.resolve(envelope.actor)
    rows, ledgers = app.view.snapshot()
    facts = {row["session_id"]: r.SessionFact(
        row["session_id"], row["version"], row["status"], row["agent_id"], row["access_key"],
        row["user_id"], row["project"], _domain(app, row["user_id"]), {}) for row in rows}
    found = r.occupancy(ledgers, facts)
    if principal.role not in (UserRole.SUPERADMIN, UserRole.ADMIN, UserRole.MONITOR):
        own = {"keypair": envelope.actor.access_key, "user": principal.user_id}
        found = {kind: {k: v for k, v in entries.items() if own.get(kind) == k}
                 for kind, entries in found.items()}
    if q.kind is not None:
        found = {q.kind: found[q.kind]}
    return {kind: [{"key": key, "occupied": slots} for key, slots in entries.items()]
            for kind, entries in found.items()}


def _domain(app: Scheduler, user_id: str) -> str | None:
    user = app.directory.users.get(user_id)
    return user.domain if user is not None else None


def resource_indicator(app: Scheduler, q: c.ResourceIndicator) -> dict[str, Any]:
    """Cluster capacity, the keypair's limit and use, and what it can allocate right now
    (keypair:read at the keypair owner's scope, checked by the dispatcher)."""
    limits = app.limits_of(q.access_key)
    usage = app.view.usage(q.access_key)
    capacity = app.agents.cluster_capacity()
    free = s.sub(capacity, _cluster_reserved(app))
    remaining = s.sub(limits.slots, usage.slots)
    allocatable = {k: min(remaining.get(k, s.INF), free.get(k, 0)) for k in s.KNOWN}
    largest = app.agents.largest() or {}
    return {"access_key": q.access_key, "capacity": s.to_wire(capacity),
            "limit": s.to_wire(limits.slots), "used": s.to_wire(usage.slots),
            "allocatable": s.to_wire({k: max(v, 0) for k, v in allocatable.items()}),
            "largest_agent": s.to_wire(largest),
            "sessions": {"active": usage.active_sessions, "pending": usage.pending_sessions,
                         "max_concurrent": _scalar(limits.max_concurrent_sessions)}}


def _scalar(value: Any) -> str:
    return s.UNLIMITED if value == s.INF else str(value)


def _cluster_reserved(app: Scheduler) -> s.Slots:
    total: s.Slots = {}
    for agent in app.agents.alive():
        total = s.add(total, app.view.agent_reserved(agent["agent_id"]))
    return total
