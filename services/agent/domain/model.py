"""The Container aggregate (one per session on this node) and how an exit is explained."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from contracts.agent import ContainerStatus, ExitReason
from services.agent.domain.errors import refuse
from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate

REQUESTED, RUNNING = ContainerStatus.REQUESTED.value, ContainerStatus.RUNNING.value
EXITED, FAILED = ContainerStatus.EXITED.value, ContainerStatus.FAILED.value
LIVE = (REQUESTED, RUNNING)
SIGNAL_BASE = 128  # exit code of a process ended by signal n is 128 + n, as shells and Docker say


def container_key(agent_id: str, session_id: str) -> UUID:
    return stable_id("container", agent_id, session_id)


def exit_reason(*, stop_reason: str | None, oom_killed: bool, signalled: bool) -> str:
    """Why a container ended: a stop we were asked for names its own reason first (our own
    SIGTERM/SIGKILL is not a 'kill'), then the kernel's OOM kill, then any other signal."""
    if stop_reason:
        return stop_reason
    if oom_killed:
        return ExitReason.OOM_KILLED.value
    if signalled:
        return ExitReason.KILLED.value
    return ExitReason.EXITED.value


def signalled_exit(exit_code: int | None) -> bool:
    """An engine's exit code above 128 means the main process died of a signal."""
    return exit_code is not None and SIGNAL_BASE < exit_code <= SIGNAL_BASE + 64


class Container(Aggregate):
    """requested → running → exited, or requested → failed; exits are recorded once."""

    @event("Requested")
    def __init__(self, agent_id: str, session_id: str, runtime: str, image: str,
                 command: list[str], access_key: str | None,
                 allocation: dict[str, Any]) -> None:
        self.agent_id = agent_id
        self.session_id = session_id
        self.runtime = runtime
        self.image = image
        self.command = list(command)
        self.access_key = access_key
        self.allocation = dict(allocation)
        self.status = REQUESTED
        self.container_id: str | None = None
        self.stop_reason: str | None = None
        self.exit_code: int | None = None
        self.reason: str | None = None

    @staticmethod
    def create_id(agent_id: str, session_id: str, runtime: str, image: str,
                  command: list[str], access_key: str | None,
                  allocation: dict[str, Any]) -> UUID:
        return container_key(agent_id, session_id)

    @property
    def live(self) -> bool:
        return self.status in LIVE

    # ---- transitions (guard, then record) ----------------------------------------------------

    def mark_started(self, container_id: str) -> None:
        self._require(REQUESTED, "start")
        self._started(container_id)

    def mark_failed(self, reason: str, detail: str) -> None:
        self._require(REQUESTED, "fail")
        self._failed(reason, detail[:1000])

    def request_stop(self, reason: str) -> None:
        self._require(RUNNING, "stop")
        if self.stop_reason is None:
            self._stop_requested(reason)

    def mark_exited(self, exit_code: int | None, reason: str, while_agent_down: bool) -> None:
        self._require(RUNNING, "exit")
        self._exited(exit_code, reason, while_agent_down)

    def mark_orphan_removed(self, container_id: str, exit_code: int | None) -> None:
        """A labelled container this store never asked for: stopped, removed, reported."""
        self._require(REQUESTED, "remove as an orphan")
        self._orphan_removed(container_id, exit_code)

    def _require(self, status: str, action: str) -> None:
        if self.status != status:
            raise refuse("container.invalid_transition",
                         f"cannot {action} a container that is {self.status}",
                         session_id=self.session_id, status=self.status)

    # ---- events ------------------------------------------------------------------------------

    @event("Started")
    def _started(self, container_id: str) -> None:
        self.container_id = container_id
        self.status = RUNNING

    @event("Failed")
    def _failed(self, reason: str, detail: str) -> None:
        self.status = FAILED
        self.reason = reason

    @event("StopRequested")
    def _stop_requested(self, reason: str) -> None:
        self.stop_reason = reason

    @event("Exited")
    def _exited(self, exit_code: int | None, reason: str, while_agent_down: bool) -> None:
        self.status = EXITED
        self.exit_code = exit_code
        self.reason = reason

    @event("OrphanRemoved")
    def _orphan_removed(self, container_id: str, exit_code: int | None) -> None:
        self.container_id = container_id
        self.status = EXITED
        self.exit_code = exit_code
        self.reason = ExitReason.ORPHAN_REMOVED.value
