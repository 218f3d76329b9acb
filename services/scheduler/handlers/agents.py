"""Handlers of the capacity reads: the agents with what they hold, the resource indicator."""

from __future__ import annotations

from typing import Any

from contracts import scheduler as c
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler
from services.scheduler.domain import slots as s
from services.scheduler.handlers.deps import SchedulerDeps
from services.scheduler.lifecycle import Scheduler

S = c.Subjects


def list_agents(deps: SchedulerDeps, ctx: MessageContext, q: c.ListAgents) -> dict[str, Any]:
    app = deps.app
    rows = []
    for agent in app.agents.agents.values():
        if q.status not in (None, agent["status"]):
            continue
        occupied = s.to_wire(app.view.agent_reserved(agent["agent_id"]))
        rows.append({k: v for k, v in agent.items() if k != "last_seen"} |
                    {"occupied": occupied})
    return {"items": sorted(rows, key=lambda a: a["agent_id"])}


def resource_indicator(deps: SchedulerDeps, ctx: MessageContext, q: c.ResourceIndicator
                       ) -> dict[str, Any]:
    # keypair:read at the keypair owner's scope, checked by the dispatcher.
    return indicator_of(deps.app, q)


def indicator_of(app: Scheduler, q: c.ResourceIndicator) -> dict[str, Any]:
    """Cluster capacity, the keypair's limit and use, and what it can allocate right now."""
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


HANDLERS: dict[str, SpecHandler[SchedulerDeps]] = {
    S.AGENT_LIST: list_agents,
    S.RESOURCE_INDICATOR: resource_indicator,
}
