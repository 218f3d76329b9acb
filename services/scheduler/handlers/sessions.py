"""Handlers of the session messages: request, terminate, touch, list, get."""

from __future__ import annotations

from typing import Any

from contracts import scheduler as c
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler
from services.scheduler.domain.errors import refuse
from services.scheduler.handlers.deps import SchedulerDeps

S = c.Subjects


def request_session(deps: SchedulerDeps, ctx: MessageContext, p: c.RequestSession
                    ) -> dict[str, Any]:
    # Storage decides the folders' mounts now, before any placement (services/scheduler/
    # mounts.py), having seen what the request had seen; without an admission the worker
    # asks when the session starts.
    mounts = None
    if p.mounts and deps.admission is not None:
        mounts = deps.admission.admit(ctx.actor.access_key or "", p.mounts, dict(ctx.after))
    return deps.app.request_session(ctx.message_id, ctx.actor, p, mounts)


def terminate_session(deps: SchedulerDeps, ctx: MessageContext, p: c.TerminateSession
                      ) -> dict[str, Any]:
    return deps.app.terminate_session(ctx.message_id, ctx.actor, p)


def touch_session(deps: SchedulerDeps, ctx: MessageContext, p: c.SessionRef
                  ) -> dict[str, Any]:
    return deps.app.touch(ctx.actor, p.session_id)


def list_sessions(deps: SchedulerDeps, ctx: MessageContext, q: c.ListSessions
                  ) -> dict[str, Any]:
    readable = deps.guard.readable(ctx.actor, c.QUERY_NEEDS[S.SESSION_LIST])
    return deps.app.view.list(q, readable)


def get_session(deps: SchedulerDeps, ctx: MessageContext, q: c.SessionRef) -> dict[str, Any]:
    found = deps.app.view.get(q.session_id)  # readable: the dispatcher checked it
    if found is None:
        raise refuse("session.not_found", "no such session", field="session_id")
    return found


HANDLERS: dict[str, SpecHandler[SchedulerDeps]] = {
    S.SESSION_REQUEST: request_session,
    S.SESSION_TERMINATE: terminate_session,
    S.SESSION_TOUCH: touch_session,
    S.SESSION_LIST: list_sessions,
    S.SESSION_GET: get_session,
}
