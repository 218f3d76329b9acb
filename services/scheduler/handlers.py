"""Bus handlers for bai.cmd.scheduler.* and bai.qry.scheduler.*."""

from __future__ import annotations

from typing import Any

from contracts import scheduler as c
from contracts.envelope import Command, Query
from services.runtime.dispatch import Dispatcher
from services.runtime.permissions import PermissionGuard
from services.scheduler.domain import slots as s
from services.scheduler.domain.errors import refuse
from services.scheduler.lifecycle import Scheduler

S = c.Subjects


def register(dispatcher: Dispatcher, app: Scheduler, guard: PermissionGuard) -> None:
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

    for subject, handler in ((S.SESSION_REQUEST, request), (S.SESSION_TERMINATE, terminate),
                             (S.SESSION_TOUCH, touch)):
        dispatcher.command(subject, c.COMMAND_PAYLOADS[subject], handler,
                           c.COMMAND_NEEDS[subject])
    for subject, handler in ((S.SESSION_LIST, list_sessions), (S.SESSION_GET, get_session),
                             (S.AGENT_LIST, list_agents),
                             (S.RESOURCE_INDICATOR, lambda e, q: resource_indicator(app, q))):
        dispatcher.query(subject, c.QUERY_PAYLOADS[subject], handler, c.QUERY_NEEDS[subject])


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
