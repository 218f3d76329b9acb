"""Handlers of the occupancy messages: RECALCULATE USAGE, and what each holder occupies."""

from __future__ import annotations

from typing import Any

from contracts import scheduler as c
from contracts.values import UserRole
from services.runtime.context import MessageContext
from services.runtime.serve import SpecHandler
from services.scheduler.domain import recalc as r
from services.scheduler.domain.errors import refuse
from services.scheduler.handlers.deps import SchedulerDeps
from services.scheduler.lifecycle import Scheduler

S = c.Subjects


def recalculate_usage(deps: SchedulerDeps, ctx: MessageContext, p: c.RecalculateUsage
                      ) -> dict[str, Any]:
    # Who may: the guard checked the declared need (system-wide: superadmins).
    if deps.recalculator is None:
        raise refuse("usage.unavailable", "this scheduler runs no recalculator")
    return deps.recalculator.run_blocking(ctx.message_id, p.stop_orphans,
                                          p.agent_timeout_seconds)


def recalculation_status(deps: SchedulerDeps, ctx: MessageContext, q: c.RecalculationStatus
                         ) -> dict[str, Any]:
    """The stages of one RECALCULATE USAGE run (kept in memory for the latest runs)."""
    if deps.recalculator is None:
        raise refuse("usage.unavailable", "this scheduler runs no recalculator")
    return deps.recalculator.status(q.run_id)


def list_usage(deps: SchedulerDeps, ctx: MessageContext, q: c.ListUsage) -> dict[str, Any]:
    """What each keypair, user, project, domain and agent occupies now (by the ledgers).
    Admins and monitors see everything; a user sees their own keypair and user rows."""
    app = deps.app
    principal = app.directory.resolve(ctx.actor)
    rows, ledgers = app.view.snapshot()
    facts = {row["session_id"]: r.SessionFact(
        row["session_id"], row["version"], row["status"], row["agent_id"], row["access_key"],
        row["user_id"], row["project"], _domain(app, row["user_id"]), {}) for row in rows}
    found = r.occupancy(ledgers, facts)
    if principal.role not in (UserRole.SUPERADMIN, UserRole.ADMIN, UserRole.MONITOR):
        own = {"keypair": ctx.actor.access_key, "user": principal.user_id}
        found = {kind: {k: v for k, v in entries.items() if own.get(kind) == k}
                 for kind, entries in found.items()}
    if q.kind is not None:
        found = {q.kind: found[q.kind]}
    return {kind: [{"key": key, "occupied": slots} for key, slots in entries.items()]
            for kind, entries in found.items()}


def _domain(app: Scheduler, user_id: str) -> str | None:
    user = app.directory.users.get(user_id)
    return user.domain if user is not None else None


HANDLERS: dict[str, SpecHandler[SchedulerDeps]] = {
    S.USAGE_RECALCULATE: recalculate_usage,
    S.USAGE_LIST: list_usage,
    S.USAGE_RECALCULATION: recalculation_status,
}
