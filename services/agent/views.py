"""The live containers of this node (requested or running), following the store's log."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from services.agent.domain.model import REQUESTED, RUNNING, Container
from services.agent.domain.slots import Allocation
from services.runtime.views import FollowingView


@dataclass(frozen=True)
class LiveContainer:
    session_id: str
    status: str
    allocation: Allocation
    access_key: str | None
    image: str
    container_id: str | None = None
    stop_reason: str | None = None


class ContainerView(FollowingView):
    """Only live containers are kept: ended ones leave the view (the store keeps them)."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._live: dict[str, LiveContainer] = {}
        self._sessions: dict[str, str] = {}  # aggregate id -> session id

    def apply(self, e: Any) -> None:
        oid = str(e.originator_id)
        if isinstance(e, Container.Requested):
            self._sessions[oid] = e.session_id
            self._live[e.session_id] = LiveContainer(
                e.session_id, REQUESTED, Allocation.from_record(e.allocation), e.access_key,
                e.image)
            return
        session = self._sessions.get(oid)
        row = self._live.get(session) if session else None
        if row is None:
            return
        if isinstance(e, Container.Started):
            self._live[row.session_id] = replace(row, status=RUNNING,
                                                 container_id=e.container_id)
        elif isinstance(e, Container.StopRequested):
            self._live[row.session_id] = replace(row, stop_reason=e.reason)
        elif isinstance(e, Container.Failed | Container.Exited | Container.OrphanRemoved):
            del self._live[row.session_id]
            del self._sessions[oid]

    def live(self) -> list[LiveContainer]:
        with self.lock:
            return list(self._live.values())

    def running(self) -> list[LiveContainer]:
        return [c for c in self.live() if c.status == RUNNING]

    def allocations(self) -> list[Allocation]:
        return [c.allocation for c in self.live()]

    def get(self, session_id: str) -> LiveContainer | None:
        with self.lock:
            return self._live.get(session_id)
