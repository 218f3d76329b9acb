"""Stored scheduler events → published contract events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import scheduler as c
from contracts.envelope import Event
from services.runtime.relay import contract_event
from services.runtime.store import ServiceApplication
from services.scheduler.domain.model import Session
from services.scheduler.domain.usage import Recalculation

_TYPES = {"Scheduled": "SessionScheduled", "Preparing": "SessionPreparing",
          "Started": "SessionStarted", "Terminating": "SessionTerminating",
          "Terminated": "SessionTerminated", "Cancelled": "SessionCancelled",
          "Errored": "SessionErrored"}


class SchedulerTranslator:
    def __init__(self, app: ServiceApplication) -> None:
        self.app = app

    def __call__(self, e: Any) -> tuple[str, Event] | None:
        if isinstance(e, Session.Requested):
            type_name = "SessionRequested"
            data: dict[str, Any] = {
                "session_id": str(e.originator_id), "name": e.name, "access_key": e.access_key,
                "user_id": e.user_id, "project": e.project, "image": e.image,
                "session_type": e.session_type, "slots": e.slots,
                "cluster_size": e.cluster_size}
        elif type(e).__name__ in _TYPES and isinstance(e, Session.Event):
            type_name = _TYPES[type(e).__name__]
            data = self._status(e)
        elif isinstance(e, Recalculation.DriftRecorded):
            type_name = "UsageDriftDetected"
            data = {"subject": e.subject, "slot": e.slot, "tracked": e.tracked,
                    "actual": e.actual, "cause": e.cause}
        elif isinstance(e, Recalculation.Completed):
            type_name = "UsageRecalculated"
            data = {"summary": e.summary, "events_replayed": e.events_replayed,
                    "agents_asked": e.agents_asked, "agents_unanswered": e.agents_unanswered,
                    "duration": e.duration}
        else:
            return None
        return contract_event(c, e, type_name, data)

    def _status(self, e: Any) -> dict[str, Any]:
        # The session as it was right after this event (statuses never skip a version).
        session = self.app.repository.get(UUID(str(e.originator_id)),
                                          version=e.originator_version)
        previous = session.history[-2]["status"] if len(session.history) > 1 else None
        return {"session_id": str(e.originator_id), "access_key": session.access_key,
                "status": session.status, "previous": previous, "reason": session.reason,
                "agent_id": session.agent_id, "slots": session.slots}
