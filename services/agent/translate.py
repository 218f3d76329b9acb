"""Stored container events → published contract events (ContainerStarted/Exited/Failed).

`Requested` and `StopRequested` stay inside the agent: they reserve slots and remember a
stop's reason, and the scheduler learns the outcome from the events that follow.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import agent as c
from contracts.envelope import Event
from services.agent.domain.model import Container
from services.agent.domain.slots import Allocation
from services.runtime.relay import envelope_for
from services.runtime.store import ServiceApplication


class AgentTranslator:
    def __init__(self, app: ServiceApplication, agent_id: str) -> None:
        self.app = app
        self.agent_id = agent_id
        self._requests: dict[str, Any] = {}  # aggregate id -> its Requested event
        self._container_ids: dict[str, str] = {}  # aggregate id -> engine container id

    def request_of(self, e: Any) -> Any:
        oid = str(e.originator_id)
        if oid not in self._requests:
            container: Any = self.app.repository.get(UUID(oid), version=1)
            self._requests[oid] = container
        return self._requests[oid]

    def __call__(self, e: Any) -> tuple[str, Event] | None:
        if isinstance(e, Container.Requested):
            self._requests[str(e.originator_id)] = e
            return None
        if isinstance(e, Container.Started):
            type_name, data = "ContainerStarted", self._started(e)
        elif isinstance(e, Container.Exited | Container.OrphanRemoved):
            type_name, data = "ContainerExited", self._exited(e)
        elif isinstance(e, Container.Failed):
            request = self.request_of(e)
            type_name, data = "ContainerFailed", {
                "session_id": request.session_id, "reason": e.reason, "detail": e.detail,
                "access_key": request.access_key}
            self._requests.pop(str(e.originator_id), None)
        else:
            return None
        model = c.EVENT_TYPES[type_name][1]
        payload = model.model_validate({"agent_id": self.agent_id, **data})
        return (c.event_subject(self.agent_id, type_name),
                envelope_for(c.SERVICE, e, type_name, payload.model_dump(mode="json")))

    def _started(self, e: Any) -> dict[str, Any]:
        self._container_ids[str(e.originator_id)] = e.container_id
        request = self.request_of(e)
        allocation = Allocation.from_record(request.allocation)
        return {"session_id": request.session_id, "container_id": e.container_id,
                "slots": allocation.slots(), "gpu_devices": allocation.gpu_devices,
                "gpu_shares": allocation.share_map(), "access_key": request.access_key,
                "runtime": request.runtime}

    def _exited(self, e: Any) -> dict[str, Any]:
        request = self.request_of(e)
        allocation = Allocation.from_record(request.allocation)
        oid = str(e.originator_id)
        container_id = (getattr(e, "container_id", None) or self._container_ids.pop(oid, None)
                        or self._container_id(e))
        orphan = isinstance(e, Container.OrphanRemoved)
        self._requests.pop(oid, None)
        return {"session_id": request.session_id, "container_id": container_id,
                "exit_code": e.exit_code,
                "reason": c.ExitReason.ORPHAN_REMOVED.value if orphan else e.reason,
                "slots": allocation.slots(), "access_key": request.access_key,
                "while_agent_down": orphan or e.while_agent_down}

    def _container_id(self, e: Any) -> str:
        container: Any = self.app.repository.get(e.originator_id, version=e.originator_version)
        return str(container.container_id or "")
